// RAII ownership of libuv handles. A Handle<T> owns the memory of one uv handle;
// destroying it calls uv_close(), and the memory is freed in the close callback,
// as libuv requires. handle->data points at whoever receives the callbacks and
// is cleared on destruction, so a callback that libuv still delivers after the
// owner is gone (e.g. a write cancelled by the close) can see that and do nothing.
#pragma once
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace nettool {

template <class T>
class Handle {
 public:
  Handle() : handle_(std::make_unique<T>()) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept = default;
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      close();
      handle_ = std::move(other.handle_);
      initialized_ = other.initialized_;
    }
    return *this;
  }
  ~Handle() { close(); }

  T* get() const { return handle_.get(); }
  T* operator->() const { return handle_.get(); }
  uv_handle_t* as_handle() const { return reinterpret_cast<uv_handle_t*>(handle_.get()); }
  uv_stream_t* as_stream() const { return reinterpret_cast<uv_stream_t*>(handle_.get()); }

  // Call after the uv_*_init succeeded: from then on the memory is libuv's to free.
  void mark_initialized(void* owner) {
    initialized_ = true;
    handle_->data = owner;
  }
  void set_owner(void* owner) { handle_->data = owner; }
  bool initialized() const { return handle_ && initialized_; }
  bool is_open() const { return initialized() && !uv_is_closing(as_handle()); }

  // Closes now; the memory goes with libuv's close callback.
  void close() {
    if (!handle_) return;
    if (!initialized_) {
      handle_.reset();
      return;
    }
    handle_->data = nullptr;
    uv_handle_t* raw = as_handle();
    T* released = handle_.release();
    (void)released;
    if (!uv_is_closing(raw)) {
      uv_close(raw, [](uv_handle_t* h) { std::unique_ptr<T> owned(reinterpret_cast<T*>(h)); });
    }
    // A handle already closing was closed by someone else with their callback,
    // which is then responsible for the memory (does not happen in our code).
  }

 private:
  std::unique_ptr<T> handle_;
  bool initialized_ = false;
};

// Runs `fn` on the next loop iteration (from a one-shot timer that frees
// itself). Used to finish things outside the callback that triggered them, e.g.
// to destroy a session from inside one of its own callbacks. `fn` must check
// that what it touches still exists (capture a weak_ptr).
void post(uv_loop_t* loop, std::function<void()> fn);

// Sends `payload` as one datagram to `to` (or to the connected peer when
// null), keeping it alive until libuv is done with it. `done(status, bytes)`
// runs only while the socket's owner still exists (handle->data non-null).
// Returns uv_udp_send's status; when it fails, `done` is not called.
int send_datagram(uv_udp_t* socket, std::string payload, const sockaddr* to,
                  std::function<void(int status, size_t bytes)> done);

// Helpers that init a handle and throw RuntimeError on failure.
Handle<uv_timer_t> make_timer(uv_loop_t* loop, void* owner);
Handle<uv_tcp_t> make_tcp(uv_loop_t* loop, void* owner, unsigned int flags = AF_UNSPEC);

}  // namespace nettool
