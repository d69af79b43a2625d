#include "nettool/uv.h"

#include "nettool/error.h"

namespace nettool {

std::string uv_message(const std::string& what, int status) {
  return what + ": " + uv_strerror(status);
}

Handle<uv_timer_t> make_timer(uv_loop_t* loop, void* owner) {
  Handle<uv_timer_t> timer;
  if (int rc = uv_timer_init(loop, timer.get()); rc < 0) throw RuntimeError(uv_message("creating a timer", rc));
  timer.mark_initialized(owner);
  return timer;
}

Handle<uv_tcp_t> make_tcp(uv_loop_t* loop, void* owner, unsigned int flags) {
  Handle<uv_tcp_t> tcp;
  if (int rc = uv_tcp_init_ex(loop, tcp.get(), flags); rc < 0) throw RuntimeError(uv_message("creating a TCP socket", rc));
  tcp.mark_initialized(owner);
  return tcp;
}

}  // namespace nettool

namespace nettool {

namespace {
struct PostedTask {
  uv_timer_t timer{};
  std::function<void()> fn;
};
}  // namespace

void post(uv_loop_t* loop, std::function<void()> fn) {
  auto task = std::make_unique<PostedTask>();
  task->fn = std::move(fn);
  if (uv_timer_init(loop, &task->timer) < 0) return;
  task->timer.data = task.get();
  uv_timer_start(
      &task->timer,
      [](uv_timer_t* t) {
        auto* raw = static_cast<PostedTask*>(t->data);
        auto fn = std::move(raw->fn);
        // The task memory goes with the close callback; libuv owns it until then.
        uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
          std::unique_ptr<PostedTask> owned(static_cast<PostedTask*>(h->data));
        });
        if (fn) fn();
      },
      0, 0);
  task.release();  // owned by libuv until the close callback above
}

}  // namespace nettool

namespace nettool {

int send_datagram(uv_udp_t* socket, std::string payload, const sockaddr* to,
                  std::function<void(int status, size_t bytes)> done) {
  struct SendReq {
    uv_udp_send_t req{};
    std::string payload;
    std::function<void(int, size_t)> done;
  };
  auto r = std::make_unique<SendReq>();
  r->payload = std::move(payload);
  r->done = std::move(done);
  r->req.data = r.get();
  uv_buf_t buf = uv_buf_init(r->payload.data(), static_cast<unsigned>(r->payload.size()));
  int rc = uv_udp_send(&r->req, socket, &buf, 1, to, [](uv_udp_send_t* req, int status) {
    std::unique_ptr<SendReq> owned(static_cast<SendReq*>(req->data));
    if (req->handle->data && owned->done) owned->done(status, owned->payload.size());
  });
  if (rc == 0) r.release();  // owned by libuv until the send callback
  return rc;
}

}  // namespace nettool
