// Our stdin and stdout as one Endpoint, whatever they are: tty, pipe, socket,
// regular file or /dev/null.
#include "endpoint_halves.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool {

namespace {

// One of our standard streams as a libuv handle, or null when it needs uv_fs.
struct StdStream {
  Handle<uv_tty_t> tty;
  Handle<uv_pipe_t> pipe;
  Handle<uv_tcp_t> tcp;
  uv_stream_t* stream = nullptr;
};

bool is_dev_null(int fd) {
  struct stat st {}, null_st{};
  if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode)) return false;
  return stat("/dev/null", &null_st) == 0 && S_ISCHR(null_st.st_mode) && st.st_rdev == null_st.st_rdev;
}

// A pipe or FIFO (uv_guess_handle says UV_NAMED_PIPE for Unix sockets too).
bool is_fifo(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

// Opens fd as a pollable uv stream when it is one; returns false for files.
bool open_std_stream(uv_loop_t* loop, int fd, bool readable, StdStream& out) {
  switch (uv_guess_handle(fd)) {
    case UV_TTY:
      if (uv_tty_init(loop, out.tty.get(), fd, readable ? 1 : 0) < 0) return false;
      out.tty.mark_initialized(nullptr);
      out.stream = out.tty.as_stream();
      return true;
    case UV_NAMED_PIPE:
      if (uv_pipe_init(loop, out.pipe.get(), 0) < 0) return false;
      out.pipe.mark_initialized(nullptr);
      if (uv_pipe_open(out.pipe.get(), fd) < 0) return false;
      out.stream = out.pipe.as_stream();
      return true;
    case UV_TCP:
      if (uv_tcp_init(loop, out.tcp.get()) < 0) return false;
      out.tcp.mark_initialized(nullptr);
      if (uv_tcp_open(out.tcp.get(), fd) < 0) return false;
      out.stream = out.tcp.as_stream();
      return true;
    default:
      return false;
  }
}

class StdioEndpoint final : public HalvesEndpoint {
 public:
  StdioEndpoint(uv_loop_t* loop, bool read_stdin, bool write_stdout) {
    name_ = "stdin/stdout";
    if (read_stdin) {
      if (fcntl(STDIN_FILENO, F_GETFD) < 0) {
        reader_ = make_empty_reader(loop);
      } else if (open_std_stream(loop, STDIN_FILENO, true, in_)) {
        reader_ = make_stream_reader(in_.stream, nullptr);
        if (is_fifo(STDIN_FILENO)) source_ = {SpliceEnd::Kind::Pipe, STDIN_FILENO, nullptr};
      } else {
        reader_ = make_file_reader(loop, STDIN_FILENO);
      }
    }
    if (write_stdout) {
      if (fcntl(STDOUT_FILENO, F_GETFD) < 0) {
        set_writer(make_null_writer());
      } else if (is_dev_null(STDOUT_FILENO)) {
        set_writer(make_null_writer());
        sink_ = {SpliceEnd::Kind::DevNull, STDOUT_FILENO, nullptr};
      } else if (open_std_stream(loop, STDOUT_FILENO, false, out_)) {
        set_writer(make_stream_writer(out_.stream, nullptr, false));
        if (is_fifo(STDOUT_FILENO)) sink_ = {SpliceEnd::Kind::Pipe, STDOUT_FILENO, nullptr};
      } else {
        set_writer(make_file_writer(loop, STDOUT_FILENO));
      }
    }
  }
  ~StdioEndpoint() override {
    reader_.reset();
    writer_.reset();
  }
  SpliceEnd splice_source() const override { return source_; }
  SpliceEnd splice_sink() const override { return sink_; }

  // The copying path (TLS, a tap) grows a long transfer's pipes as the
  // SplicePump does: the process at the other end and we then take turns
  // every 1 MiB instead of every 64 KiB.
  void read_start(DataFn on_data, EndFn on_end) override {
    if (source_.kind != SpliceEnd::Kind::Pipe) {
      HalvesEndpoint::read_start(std::move(on_data), std::move(on_end));
      return;
    }
    HalvesEndpoint::read_start(
        [this, on_data = std::move(on_data)](const ChunkPtr& chunk) {
          count_towards_growing(bytes_in_, chunk->size, STDIN_FILENO);
          on_data(chunk);
        },
        std::move(on_end));
  }
  void write(const ChunkPtr& chunk) override {
    if (sink_.kind == SpliceEnd::Kind::Pipe) count_towards_growing(bytes_out_, chunk->size, STDOUT_FILENO);
    HalvesEndpoint::write(chunk);
  }

 private:
  static void count_towards_growing(uint64_t& total, size_t n, int fd) {
    if (total < kGrowPipesAfter && total + n >= kGrowPipesAfter) grow_pipe(fd);
    total += n;
  }

  StdStream in_;
  StdStream out_;
  SpliceEnd source_;  // stdin when it is a pipe
  SpliceEnd sink_;    // stdout when it is a pipe or /dev/null
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

}  // namespace

std::unique_ptr<Endpoint> make_stdio_endpoint(uv_loop_t* loop, bool read_stdin, bool write_stdout) {
  return std::make_unique<StdioEndpoint>(loop, read_stdin, write_stdout);
}

}  // namespace nettool
