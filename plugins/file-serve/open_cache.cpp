#include "open_cache.h"

namespace file_serve {

OpenFileCache::OpenFileCache(uv_loop_t* loop) {
  if (!loop) return;  // a unit test may go without
  sweeper_ = nettool::make_timer(loop, this);
  uv_unref(sweeper_.as_handle());  // never what keeps a draining worker's loop running
}

FileRef OpenFileCache::find(const std::string& path, struct stat& st, Clock::time_point now) {
  auto it = entries_.find(path);
  if (it == entries_.end()) return nullptr;
  if (now - it->second.opened >= kLifetime || fstat(it->second.file->get(), &st) != 0 || st.st_nlink == 0 ||
      !S_ISREG(st.st_mode)) {
    entries_.erase(it);
    return nullptr;
  }
  return it->second.file;
}

void OpenFileCache::store(const std::string& path, const FileRef& file, const struct stat& st,
                          Clock::time_point now) {
  if (!file || !file->valid() || !S_ISREG(st.st_mode) || st.st_size > kMaxFileSize) return;
  if (entries_.size() >= kMaxEntries) sweep(now);
  if (entries_.size() >= kMaxEntries) entries_.clear();  // a second's worth of many different files: start over
  entries_[path] = Entry{file, now};
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
  std::erase_if(entries_, [now](const auto& kv) { return now - kv.second.opened >= kLifetime; });
}

}  // namespace file_serve
