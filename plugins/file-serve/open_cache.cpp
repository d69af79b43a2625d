#include "open_cache.h"

#include <unistd.h>

#include <ctime>
#include <string>

#include "nettool/error.h"

namespace file_serve {

namespace {
bool same_time(const timespec& a, const timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }
}  // namespace

OpenFileCache::OpenFileCache(uv_loop_t* loop) {
  if (!loop) return;  // a unit test may go without
  sweeper_ = nettool::make_timer(loop, this);
  uv_unref(sweeper_.as_handle());  // never what keeps a draining worker's loop running
  if (int rc = uv_prepare_init(loop, turns_.get()); rc < 0)
    throw nettool::RuntimeError(std::string("file-serve: open-file cache: uv_prepare_init: ") + uv_strerror(rc));
  turns_.mark_initialized(this);
  uv_prepare_start(turns_.get(), [](uv_prepare_t* p) {
    if (auto* self = static_cast<OpenFileCache*>(p->data)) self->next_turn();
  });
  uv_unref(turns_.as_handle());
}

FileRef OpenFileCache::find(const std::string& path, struct stat& st, Clock::time_point now, FileBody* body) {
  auto it = entries_.find(path);
  if (it == entries_.end()) return nullptr;
  Entry& entry = it->second;
  if (now - entry.opened >= kLifetime) {
    erase(it);
    return nullptr;
  }
  // Kept bytes, and the stat they were read with, were looked at this turn
  // (see the header); anything else is looked at now.
  if (!(body && entry.body && entry.checked == turn_)) {
    // Any change to the inode since it was opened (renamed, moved out of the
    // root, chmod, written) moves its ctime: the path is then opened again,
    // with every check a new request gets.
    if (fstat(entry.file->get(), &entry.st) != 0 || entry.st.st_nlink == 0 || !S_ISREG(entry.st.st_mode) ||
        !same_time(entry.st.st_ctim, entry.ctime)) {
      erase(it);
      return nullptr;
    }
    entry.checked = turn_;
  }
  st = entry.st;
  if (body) *body = body_of(entry, st);
  return entry.file;
}

// The bytes kept for `entry` if the file is still as it was when they were
// read (`st` is its fresh stat); else read now if it is small and settled.
FileBody OpenFileCache::body_of(Entry& entry, const struct stat& st) {
  if (entry.body && entry.body_size == st.st_size && same_time(entry.body_mtime, st.st_mtim) &&
      same_time(entry.body_ctime, st.st_ctim))
    return entry.body;
  forget_body(entry);
  bool settled = st.st_ctim.tv_sec < std::time(nullptr) - 1;
  size_t size = static_cast<size_t>(st.st_size);
  if (!settled || st.st_size > kMaxBodySize || body_bytes_ + size > kMaxBodyBytes) return nullptr;
  std::string bytes(size, '\0');
  if (pread(entry.file->get(), bytes.data(), size, 0) != static_cast<ssize_t>(size)) return nullptr;
  entry.body = std::make_shared<const std::string>(std::move(bytes));
  entry.body_size = st.st_size;
  entry.body_mtime = st.st_mtim;
  entry.body_ctime = st.st_ctim;
  body_bytes_ += size;
  return entry.body;
}

void OpenFileCache::forget_body(Entry& entry) {
  if (!entry.body) return;
  body_bytes_ -= entry.body->size();
  entry.body.reset();
}

OpenFileCache::Entries::iterator OpenFileCache::erase(Entries::iterator it) {
  forget_body(it->second);
  return entries_.erase(it);
}

void OpenFileCache::clear() {
  entries_.clear();
  body_bytes_ = 0;
}

void OpenFileCache::store(const std::string& path, const FileRef& file, const struct stat& st,
                          Clock::time_point now) {
  if (!file || !file->valid() || !S_ISREG(st.st_mode) || st.st_size > kMaxFileSize) return;
  if (entries_.size() >= kMaxEntries) sweep(now);
  if (entries_.size() >= kMaxEntries) clear();  // a second's worth of many different files: start over
  if (auto it = entries_.find(path); it != entries_.end()) erase(it);
  Entry entry;
  entry.file = file;
  entry.opened = now;
  entry.ctime = st.st_ctim;
  entries_.emplace(path, std::move(entry));
  if (sweeper_.is_open() && !uv_is_active(reinterpret_cast<uv_handle_t*>(sweeper_.get()))) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(kLifetime).count();
    uv_timer_start(
        sweeper_.get(),
        [](uv_timer_t* t) {
          auto* self = static_cast<OpenFileCache*>(t->data);
          if (!self) return;
          self->sweep(Clock::now());
          if (self->entries_.empty()) uv_timer_stop(t);
        },
        static_cast<uint64_t>(ms), static_cast<uint64_t>(ms));
  }
}

void OpenFileCache::sweep(Clock::time_point now) {
  for (auto it = entries_.begin(); it != entries_.end();)
    it = now - it->second.opened >= kLifetime ? erase(it) : std::next(it);
}

}  // namespace file_serve
