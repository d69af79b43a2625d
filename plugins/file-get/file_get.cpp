// file-get URL | HOST PORT NAME: download one file over HTTP/1.1 (or, with
// --raw, the notes' bare-name protocol) into FILE.part, check its length and
// SHA-256 Repr-Digest, fsync it and rename it into place. A failed download
// never sits under the final name; the .part stays for --resume when it may
// be continued.
//
// The response head is read on the loop. A body that needs no decoding (a
// Content-Length or until-close body, --raw) going to a file is then moved
// by the thread pool straight from the socket into the file with splice(2);
// any other body is read on the loop and its chunks are queued to the
// thread pool. Either way every file operation and the hashing run there
// (DiskWriter), and reading waits while the disk or the hash falls behind,
// so memory stays bounded whatever the file size.
//
// The command only sequences the pieces: what to fetch is target.cpp's, what
// a response head means is response_plan.cpp's, how its body is framed and
// decoded is body_reader.cpp's, and the file is the DiskWriter's
// (disk_writer.cpp, disk_jobs.cpp). Past 500 lines because that sequence (connect, head, body by reads or by splice with
// their backpressure, finish or fail, and the signals) has to be followed in
// one place to see that every path ends in exactly one finish or fail.
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cmath>

#include "body_reader.h"
#include "disk_writer.h"
#include "response_plan.h"
#include "target.h"
#include "nettool/connect.h"
#include "nettool/counting.h"
#include "nettool/proxy.h"
#include "nettool/unix.h"
#include "nettool/digest.h"
#include "nettool/error.h"
#include "nettool/http.h"
#include "nettool/log.h"
#include "nettool/option_groups.h"
#include "nettool/plugin.h"
#include "nettool/tls.h"
#include "progress.h"

namespace {

using namespace nettool;
using namespace nettool::file_get;

// Backpressure on the socket: stop reading once this much waits for the
// disk, read again as soon as one disk job (DiskWriter::kBatchBytes) is done
// while the next one runs. With the marks far apart (pause above 1 MiB,
// resume under 256 KiB, 1 MiB jobs) reading waited for the queue to empty,
// and the loop thread (receiving, decrypting) and the thread pool (hashing,
// writing) took turns instead of running together: a verified HTTPS download
// was a third slower (bench/PROFILES.md, table 8). Chunks are up to 64 KiB
// (TLS hands on 48-64 KiB of whole records), so the pause comes up to a
// chunk past its mark and a job may end a chunk short of kBatchBytes: the
// resume mark allows for both, so one job done is always enough. The queue
// holds the endpoint's own read buffers; 2 MiB of full ones is its whole pool
// of 32, so a download mostly reuses the same few (a 4 MiB queue outgrew the
// pool: a fresh buffer per read, up to ~80k page faults per GiB).
constexpr size_t kPauseAt = 2 * 1024 * 1024;
constexpr size_t kResumeAt = kPauseAt - DiskWriter::kBatchBytes + 2 * kReadChunkSize;
// Spliced bytes cost no memory of ours: they wait for the hash in the page
// cache. The next splice starts while the hash is at most this far behind,
// a few splice steps, so splicing and hashing overlap.
constexpr size_t kSpliceAhead = 16 * 1024 * 1024;
constexpr size_t kMaxResponseHead = 64 * 1024;
// How long the short text of an error response may take to arrive. The
// download has already failed; the text only improves the message, so it
// gets a wait of its own, whatever -i says (-i 0 would otherwise wait for
// ever on a server that stalls in the middle of it).
constexpr Duration kErrorBodyWait{1000};
constexpr const char* kUserAgent = "nettool/0.1";

constexpr OptionSpec kOwnOptions[] = {
    {"host", 0, OptionType::String, "", "server host name or address, or a whole http:// URL given alone", "URL|HOST", 0,
     false},
    {"port", 0, OptionType::String, "", "server port (with HOST)", "PORT", 1, false},
    {"name", 0, OptionType::String, "", "name of the file to ask for (with HOST PORT)", "NAME", 2, false},
    {"url", 0, OptionType::String, "",
     "URL to download: http://HOST[:PORT]/PATH, IPv6 literals in brackets (the same as giving it as the only argument)",
     "URL"},
    // A String, not a Path: a profile's relative Path is taken relative to the
    // profile's folder, which would turn "-" (stdout) into "DIR/-"; the output
    // is relative to the current directory, as on the command line.
    {"output", 'o', OptionType::String, "",
     "save as FILE (written to FILE.part, renamed when complete); '-' writes to stdout; default: the last segment of "
     "the name or URL path, in the current directory",
     "FILE"},
    {"resume", 0, OptionType::Bool, "", "continue an existing FILE.part with a Range request (HTTP only)"},
    {"fsync", 0, OptionType::Bool, "true",
     "make the file durable before renaming it into place: write it back during the transfer, fsync it and its "
     "directory (--no-fsync leaves that to the kernel, as curl and wget do)"},
    {"raw", 0, OptionType::Bool, "",
     "speak the bare-name protocol: send NAME and a newline, save everything until the server closes"},
    {.name = "progress", .type = OptionType::String, .default_value = "auto",
     .help = "progress bar on stderr: auto (when stderr is a terminal), always or never", .choices = "auto|always|never"},
    {.name = "max-redirects", .type = OptionType::Int, .default_value = "5",
     .help = "follow at most this many redirects (301, 302, 303, 307, 308)", .min = 0},
    {"idle-timeout", 'i', OptionType::Duration, "30s", "fail when no data arrives for this long (0 = wait forever)"},
    {.name = "unix-socket", .type = OptionType::String,
     .help = "connect to this Unix domain socket (a path, or @NAME for an abstract one) instead of the URL's host "
             "and port, which still name the server in the request (curl --unix-socket)",
     .value_name = "PATH", .excludes = "proxy"},
};
// curl's letters, so that what curl users type by habit works as typed
// (`file-get -fsSL URL`, `-LO`, `-sS`). All but -s state what file-get does
// anyway and are read only to refuse their --no- forms (and -O, -s for the
// hint after wget's -O FILE or nc's -s ADDR, target.h). -s is curl's
// --silent here, so the source address keeps only its long name.
constexpr OptionSpec kCurlLetters[] = {
    {.name = "silent", .short_flag = 's', .type = OptionType::Bool,
     .help = "print errors only, like the global -q (curl -s; but errors are always printed, as with curl -sS; "
             "-v still adds its lines)"},
    {.name = "fail", .short_flag = 'f', .type = OptionType::Bool,
     .help = "accepted for curl's -f: file-get always fails on an HTTP error (exit 1, no file saved)"},
    {.name = "show-error", .short_flag = 'S', .type = OptionType::Bool,
     .help = "accepted for curl's -S: file-get always prints errors, also with -s"},
    {.name = "location", .short_flag = 'L', .type = OptionType::Bool,
     .help = "accepted for curl's -L: file-get always follows redirects (up to --max-redirects)"},
    {.name = "remote-name", .short_flag = 'O', .type = OptionType::Bool,
     .help = "accepted for curl's -O: without -o, file-get always saves under the remote name (-O takes no value; "
             "-o FILE names the output)"},
};
constexpr auto kOptions = join_options(kOwnOptions, kCurlLetters, without_letters(kConnectOptions, "source"),
                                       kProxyOptions, kTlsClientOptions);
// Every option read below goes through opt(): a name not in kOptions does not compile.
consteval std::string_view opt(std::string_view name) { return checked_option<kOptions>(name); }

std::string seconds_text(Duration d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return fmt::format("{:.1f} s", static_cast<double>(d.count()) / 1000.0);
}

class FileGet final : public Command {
 public:
  explicit FileGet(Context& ctx) : ctx_(ctx), opts_(ctx.options()) {}

  ~FileGet() override {
    if (connector_) connector_->abort();
    connector_.reset();
    if (proxy_connector_) proxy_connector_->abort();
    proxy_connector_.reset();
    conn_.reset();
    // The writer finishes a job in flight on its own, without calling back.
    writer_.reset();
    progress_.reset();
  }

  void start() override {
    be_silent_if_asked();
    configure();
    bool quiet = silent_ || ctx_.log().level() >= spdlog::level::err;
    const std::string& when = opts_.get_string(opt("progress"));
    bool tty = isatty(STDERR_FILENO) == 1;
    // auto: not when the data itself goes to the terminal (-o - unredirected),
    // where the bar would be drawn into the middle of it.
    bool automatic = tty && !(to_stdout_ && isatty(STDOUT_FILENO) == 1);
    progress_ = std::make_unique<ProgressBar>(ctx_.loop(), !quiet && (when == "always" || (when == "auto" && automatic)), tty);
    idle_timer_ = make_timer(ctx_.loop(), this);

    writer_ = std::make_unique<DiskWriter>(ctx_.loop(), opts_.get_bool(opt("fsync")));
    writer_->on_error([this](const std::string& why) { fail(why, Keep::Part); });
    writer_->on_progress([this] { maybe_resume_reading(); });
    if (to_stdout_) writer_->use_stdout();
    if (stream_target_) writer_->stream_into(output_);

    if (resume_) {
      // Open the .part first: its size is where the Range request starts.
      // Its bytes are hashed in the worker while we connect and download.
      phase_ = Phase::Connecting;
      writer_->open(part_, false, [this](uint64_t size, const std::string& validator) {
        if (phase_ == Phase::Done) return;
        resume_from_ = size;
        part_has_data_ = size > 0;
        if (size > 0) {
          validator_ = validator;
          if (validator_.empty())
            ctx_.log().warn("no ETag or Last-Modified was saved with {}: if the file changed on the server since, "
                            "only a Repr-Digest can tell",
                            escape_for_log(part_));
          ctx_.log().info("resuming {} from byte {}", escape_for_log(part_), size);
          writer_->hash_prefix(size);
        } else {
          // Said, not debug: someone who asked to resume expects a resumption
          // (wget -c would continue the final file; we only ever continue a .part).
          ctx_.log().info("--resume: {} is empty or new: downloading from the start", escape_for_log(part_));
        }
        connect();
      });
    } else {
      connect();
    }
  }

  // A signal stops the download at once; what has arrived is flushed to
  // the .part so --resume can continue it. A download already being
  // verified and renamed is left to finish (it takes milliseconds).
  void shutdown() override { interrupt(false); }
  // Grace over or second signal: same, but without flushing queued data.
  void abort() override { interrupt(true); }

 private:
  // ErrorBody: an error status came, with a short text saying why; the
  // download fails once that text is read.
  enum class Phase { Idle, Connecting, Head, Body, ErrorBody, Finishing, Done };
  enum class Keep { Part, Remove };

  // ------------------------------------------------------------ configuration

  // -s: what the global -q does (make_logger), for this run's logger: errors
  // only, which also hides the progress bar (start). A -v given with it
  // still shows its lines, as curl -sv does; the bar stays hidden.
  void be_silent_if_asked() {
    if (!opts_.get_bool(opt("silent"))) return;
    silent_ = true;
    if (ctx_.log().level() == spdlog::level::info) ctx_.log().set_level(spdlog::level::err);
  }

  // curl's -f -S -L -O name what file-get always does; their --no- forms
  // (or `fail: false` in a profile) would ask for something it does not do.
  void refuse_curl_negations() const {
    static constexpr std::pair<std::string_view, std::string_view> kWhy[] = {
        {opt("fail"), "file-get always fails on an HTTP error"},
        {opt("show-error"), "file-get always prints errors"},
        {opt("location"), "file-get always follows redirects; --max-redirects 0 refuses them"},
        {opt("remote-name"), "without -o, file-get always saves under the remote name; -o FILE names another"},
    };
    for (auto [name, why] : kWhy)
      if (opts_.source(name) != ValueSource::Default && !opts_.get_bool(name))
        throw ConfigError((opts_.source(name) == ValueSource::CommandLine ? "--no-" + std::string(name)
                                                                          : std::string(name) + ": false") +
                          ": " + std::string(why));
  }

  void configure() {
    refuse_curl_negations();
    max_redirects_ = opts_.get_int(opt("max-redirects"));
    if (opts_.has(opt("idle-timeout"))) idle_ = opts_.get_duration(opt("idle-timeout"));
    raw_ = opts_.get_bool(opt("raw"));
    resume_ = opts_.get_bool(opt("resume"));
    if (raw_ && resume_) throw ConfigError("--resume needs HTTP Range requests; the bare-name protocol (--raw) has none");
    connect_opts_ = connect_options(opts_);
    tls_options_ = tls_client_options(opts_);

    std::string default_name = choose_target();
    if (!raw_ && !target_.url.tls && opts_.get_bool(opt("tls")))
      throw ConfigError("--tls with an http:// URL: write https:// to fetch over TLS");
    // Now, so that a bad --tls-ca or --tls-cert is a usage error (exit 2).
    if (use_tls()) tls_ = make_tls_client_context(tls_options_, ctx_.log());
    // Now too, so that a malformed --proxy or *_proxy variable is one; each
    // connection (a redirect may change the host) chooses again.
    if (opts_.has(opt("proxy"))) explicit_proxy_ = opts_.get_string(opt("proxy"));
    if (opts_.has(opt("unix-socket"))) {
      std::string path = opts_.get_string(opt("unix-socket"));
      unix_socket_ = unix_address_of_path(path);  // @NAME: abstract
      for (std::string_view name : {opt("source"), opt("source-port")})
        if (opts_.given(name)) throw ConfigError("--" + std::string(name) + " is for TCP, not --unix-socket");
    } else {
      choose_proxy_for_target();
    }

    std::string output = opts_.has(opt("output")) ? opts_.get_string(opt("output")) : "";
    if (opts_.has(opt("output")) && output.empty()) throw ConfigError("-o: empty file name");
    if (output == "-") {
      to_stdout_ = true;
      if (resume_) throw ConfigError("--resume needs a file to continue; it does not work with -o -");
      return;
    }
    if (output.empty()) {
      if (default_name.empty() || default_name == "." || default_name == ".." ||
          default_name.find('/') != std::string::npos)
        throw ConfigError("cannot pick a file name from " + escape_for_log(where()) +
                          "; name the output with -o FILE (or -o - for stdout)");
      output = default_name;
    }
    if (output.find('\0') != std::string::npos) throw ConfigError("-o: the file name contains a NUL byte");
    if (output.back() == '/') throw ConfigError("-o " + escape_for_log(output) + " names a directory; give a file name");
    output_ = output;
    part_ = output + ".part";
    // Checked before the loop runs, so this lstat() cannot stall it. What is
    // already there and not a regular file is never replaced by the rename:
    // a FIFO or a device is written into, as curl and wget do; a symlink is
    // not followed, so it is refused like anything else.
    struct stat sb {};
    if (::lstat(output.c_str(), &sb) != 0 || S_ISREG(sb.st_mode)) return;
    std::string what = escape_for_log(output);
    if (S_ISDIR(sb.st_mode)) throw ConfigError("-o " + what + " is a directory; give a file name");
    if (S_ISLNK(sb.st_mode))
      throw RuntimeError("-o " + what + " is a symbolic link; refusing to follow or replace it (name its target, or remove the link)");
    if (!S_ISFIFO(sb.st_mode) && !S_ISCHR(sb.st_mode))
      throw RuntimeError("-o " + what + " is a " + (S_ISBLK(sb.st_mode) ? "block device" : "socket") +
                         "; refusing to write into it");
    if (resume_) throw ConfigError("--resume needs a regular file to continue; -o " + what + " is a FIFO or a device");
    stream_target_ = true;
  }

  // Works out what to fetch (target.h) from the options, wherever each came from.
  std::string choose_target() {
    TargetOptions o;
    o.raw = raw_;
    auto on_command_line = [this](std::string_view name) {
      return opts_.source(name) == ValueSource::CommandLine && opts_.get_bool(name);
    };
    o.remote_name_letter = on_command_line(opt("remote-name"));
    o.silent_letter = on_command_line(opt("silent"));
    for (auto [name, slot] : {std::pair{opt("host"), &o.host}, {opt("port"), &o.port}, {opt("name"), &o.name}, {opt("url"), &o.url}})
      if (opts_.has(name)) *slot = TargetOptions::Value{opts_.get_string(name), opts_.source(name) == ValueSource::CommandLine};
    target_ = resolve_target(o);
    return target_.default_name;
  }

  std::string where() const { return describe(target_); }

  // https://, or --raw with --tls.
  bool use_tls() const { return raw_ ? tls_options_.enabled : target_.url.tls; }
  // -v counts what HTTP sent and received: over TLS above the TLS endpoint
  // (connected()), so records and handshakes are not counted as data.
  Counters* socket_counters() { return use_tls() ? nullptr : &ctx_.counters(); }

  // ------------------------------------------------------------ connection

  // The proxy this target goes through (--proxy, or http_proxy, https_proxy,
  // all_proxy unless no_proxy says otherwise), or none. ConfigError if malformed.
  void choose_proxy_for_target() {
    const std::string& host = raw_ ? target_.raw_host : target_.url.host;
    std::string scheme = raw_ ? "raw" : target_.url.tls ? "https" : "http";
    via_proxy_.reset();
    auto chosen = choose_proxy(explicit_proxy_, scheme, host, [](const char* name) { return std::getenv(name); });
    if (!chosen) return;
    try {
      via_proxy_ = parse_proxy_url(chosen->url);
    } catch (const ConfigError& e) {
      if (chosen->source == "--proxy") throw;
      throw ConfigError(chosen->source + "=" + escape_for_log(chosen->url) + ": " + e.what());
    }
    via_proxy_source_ = chosen->source;
  }

  void connect() {
    phase_ = Phase::Connecting;
    const std::string& host = raw_ ? target_.raw_host : target_.url.host;
    uint16_t port = raw_ ? target_.raw_port : target_.url.port;
    auto done = [this](Handle<uv_tcp_t> socket, const std::string& error) { on_connected(std::move(socket), error); };
    if (unix_socket_) {
      // connect(2) on a Unix socket answers at once; the result is taken
      // from the loop, as a TCP connection's is.
      post(ctx_.loop(), [this] {
        if (phase_ != Phase::Connecting) return;
        std::string error;
        Handle<uv_pipe_t> socket = connect_unix(ctx_.loop(), *unix_socket_, error);
        if (!error.empty()) return fail(error, Keep::Part);
        uv_os_fd_t fd = -1;
        int raw = uv_fileno(socket.as_handle(), &fd) == 0 ? fd : -1;
        connected(make_unix_endpoint(std::move(socket), socket_counters(), unix_socket_->to_string()), raw);
      });
      return;
    }
    try {
      choose_proxy_for_target();
      absolute_form_ = via_proxy_ && via_proxy_->kind == ProxySpec::Kind::Http && !raw_ && !use_tls();
      if (via_proxy_) ctx_.log().debug("{}: through {} (from {})", where(), via_proxy_->describe(), via_proxy_source_);
      if (!via_proxy_) {
        connector_ = TcpConnector::start(ctx_.loop(), host, port, connect_opts_, done);
      } else if (absolute_form_) {
        // Plain HTTP through an HTTP proxy: the request itself goes to the
        // proxy, its target in absolute form, as curl and wget send it (a
        // proxy may allow CONNECT to port 443 only).
        connector_ = TcpConnector::start(ctx_.loop(), via_proxy_->host, via_proxy_->port, connect_opts_,
                                         [this](Handle<uv_tcp_t> socket, const std::string& error) {
                                           on_connected(std::move(socket),
                                                        error.empty() ? "" : via_proxy_->describe() + ": " + error);
                                         });
      } else {
        proxy_connector_ = ProxyConnector::start(ctx_.loop(), *via_proxy_, host, port, connect_opts_, done);
      }
    } catch (const std::runtime_error& e) {  // RuntimeError, or a ConfigError from a redirect's proxy
      fail(e.what(), Keep::Part);
    }
  }

  void on_connected(Handle<uv_tcp_t> socket, const std::string& error) {
    retire_connector();  // not from inside its own callback: on the next turn
    if (phase_ != Phase::Connecting) return;
    if (!error.empty()) {
      fail(error, Keep::Part);
      return;
    }
    uv_os_fd_t fd = -1;
    int raw = uv_fileno(socket.as_handle(), &fd) == 0 ? fd : -1;
    connected(make_tcp_endpoint(std::move(socket), socket_counters()), raw);
  }

  // A connection to the server (TCP, a tunnel, or --unix-socket) whose
  // socket is `fd`: TLS on it if wanted, then the request.
  void connected(std::unique_ptr<Endpoint> tcp, int fd) {
    ctx_.counters().connections++;
    socket_fd_ = fd;
    splicing_ = false;
    ctx_.log().debug("connected to {}", tcp->describe());
    if (use_tls()) {
      socket_fd_ = -1;  // the socket carries cipher text: never spliced into the file
      try {
        if (!tls_) tls_ = make_tls_client_context(tls_options_, ctx_.log());
        if (!tls_log_) tls_log_ = ctx_.log().clone(ctx_.log().name());
        tls_log_->set_level(ctx_.log().level());
        // A body that ends at close must end with close_notify: a bare FIN may be a truncation.
        const std::string& host = raw_ ? target_.raw_host : target_.url.host;
        tcp = make_tls_endpoint(ctx_.loop(), std::move(tcp), *tls_, host, tls_log_.get(), true,
                                [this](const std::string& error, const TlsSession& session) {
                                  if (!error.empty()) fail("tls: " + error, Keep::Part);
                                  else ctx_.log().debug("tls: {}", describe(session));
                                });
      } catch (const std::runtime_error& e) {  // a redirect to https:// with an unreadable --tls-ca
        fail(e.what(), Keep::Part);
        return;
      }
      tcp = make_counting_endpoint(std::move(tcp), &ctx_.counters());
    }
    conn_ = std::move(tcp);

    head_.clear();
    body_ = BodyReader();  // --raw: until close
    expected_size_.reset();
    expected_digest_.reset();
    range_sent_ = false;
    paused_ = false;
    phase_ = raw_ ? Phase::Body : Phase::Head;

    // A failed write shows up on the reading side too (reset, EOF), which
    // says more about what happened; only note it here.
    conn_->on_write_error([this](int status) { ctx_.log().debug("sending the request: {}", uv_strerror(status)); });
    conn_->read_start([this](const ChunkPtr& chunk) { on_data(chunk); }, [this](int status) { on_end(status); });
    conn_->write(make_chunk(request_text()));
    arm_idle();
    if (raw_) {
      progress_->start();  // HTTP: once the response says what is coming
      writer_->skip_hashing();  // the bare-name protocol carries no digest
    }
  }

  std::string request_text() {
    if (raw_) return target_.raw_name + "\n";
    std::string request_target = target_.url.path_and_query;
    if (absolute_form_) request_target = "http://" + http::host_header(target_.url) + request_target;
    std::string r = "GET " + request_target + " HTTP/1.1\r\n";
    r += "Host: " + http::host_header(target_.url) + "\r\n";
    if (absolute_form_) r += proxy_protocol::http_authorization(*via_proxy_);
    r += std::string("User-Agent: ") + kUserAgent + "\r\n";
    r += "Accept: */*\r\n";
    r += "Accept-Encoding: identity\r\n";  // we verify and save the bytes as the server has them
    r += "Connection: close\r\n";
    if (resume_from_ > 0) {
      r += "Range: bytes=" + std::to_string(resume_from_) + "-\r\n";
      // The rest only if the file is still the one the .part holds the start
      // of; otherwise the server sends it whole (200) and we start over.
      if (!validator_.empty()) r += "If-Range: " + validator_ + "\r\n";
      range_sent_ = true;
    }
    r += "\r\n";
    ctx_.log().trace("request: {}", escape_for_log(r));
    return r;
  }

  // Drops the connection. Called from its own callbacks, so the endpoint is
  // destroyed on the next loop turn (or after a splice job still using its
  // socket); reading stops now.
  void retire_connection() {
    uv_timer_stop(idle_timer_.get());
    paused_ = false;
    splicing_ = false;
    socket_fd_ = -1;
    if (!conn_) return;
    conn_->read_pause();
    std::shared_ptr<Endpoint> dead(std::move(conn_));
    post(ctx_.loop(), [dead] {});
  }

  void retire_connector() {
    if (proxy_connector_) {
      proxy_connector_->abort();
      std::shared_ptr<ProxyConnector> dead = std::move(proxy_connector_);
      post(ctx_.loop(), [dead] {});
    }
    if (!connector_) return;
    connector_->abort();
    std::shared_ptr<TcpConnector> dead = std::move(connector_);
    post(ctx_.loop(), [dead] {});
  }

  // ------------------------------------------------------------ receiving

  void arm_idle() {
    if (idle_.count() <= 0) return;
    uv_timer_start(
        idle_timer_.get(),
        [](uv_timer_t* t) {
          auto* self = static_cast<FileGet*>(t->data);
          if (self) self->fail("stalled: no data for " + seconds_text(self->idle_), Keep::Part);
        },
        static_cast<uint64_t>(idle_.count()), 0);
  }

  // ErrorBody's deadline, on the idle timer (which it replaces): counted
  // once from the head, not re-armed by data, so a server that trickles the
  // text cannot stretch it either.
  void arm_error_body_deadline() {
    uv_timer_start(
        idle_timer_.get(),
        [](uv_timer_t* t) {
          auto* self = static_cast<FileGet*>(t->data);
          if (self) self->fail(self->refusal_, Keep::Part);  // the status alone: the text was too slow
        },
        static_cast<uint64_t>(kErrorBodyWait.count()), 0);
  }

  void on_data(const ChunkPtr& chunk) {
    if (phase_ == Phase::ErrorBody) {
      read_error_body(std::string_view(chunk->data.get(), chunk->size));
      return;
    }
    if (phase_ != Phase::Head && phase_ != Phase::Body) return;
    arm_idle();
    if (phase_ == Phase::Head) {
      head_.append(chunk->data.get(), chunk->size);
      handle_head();
      return;
    }
    feed_body(std::string_view(chunk->data.get(), chunk->size), &chunk);
    maybe_splice();
  }

  void handle_head() {
    for (;;) {
      auto parsed = http::parse_response(head_, kMaxResponseHead);
      if (parsed.status == http::ParseStatus::Incomplete) return;
      if (parsed.status == http::ParseStatus::Error) {
        std::string hint = parsed.not_http ? " (a bare-name server? try --raw)" : "";
        fail("invalid response: " + parsed.error + hint, Keep::Part);
        return;
      }
      http::Response& r = parsed.response;
      // parse_response only applies its limit while the end of the head is
      // missing; a head that arrives whole in one read can be larger.
      if (r.head_size > kMaxResponseHead) {
        fail("invalid response: response header larger than " + std::to_string(kMaxResponseHead) + " bytes",
             Keep::Part);
        return;
      }
      if (r.status >= 100 && r.status < 200) {
        if (r.status == 101) {
          fail("invalid response: 101 Switching Protocols to a plain GET", Keep::Part);
          return;
        }
        // 100 Continue, 103 Early Hints...: the real response follows.
        ctx_.log().debug("skipping interim response {}", r.status);
        head_.erase(0, r.head_size);
        continue;
      }
      std::string rest = head_.substr(r.head_size);
      head_.clear();
      head_.shrink_to_fit();
      response_ = std::move(r);
      if (!accept_response()) {
        if (phase_ == Phase::ErrorBody) read_error_body(rest);
        return;
      }
      phase_ = Phase::Body;
      if (body_.remaining() == 0) {  // Content-Length: 0
        complete();
        return;
      }
      if (!rest.empty()) feed_body(rest, nullptr);
      maybe_splice();
      return;
    }
  }

  // Carries out the plan for a complete response head. False when there is
  // no body to save (redirect, error, retry).
  bool accept_response() {
    ctx_.log().debug("{}: {}", where(), status_text(response_));
    Attempt attempt{resume_from_, range_sent_, retried_from_zero_, part_has_data_, range_sent_ ? validator_ : "",
                    redirects_, max_redirects_};
    ResponsePlan plan = plan_response(response_, target_.url, attempt);
    for (const std::string& w : plan.warnings) ctx_.log().warn("{}", w);
    for (const std::string& d : plan.details) ctx_.log().debug("{}", d);
    if (!plan.notes.empty()) progress_->clear();
    for (const std::string& n : plan.notes) ctx_.log().info("{}", n);
    switch (plan.action) {
      case ResponsePlan::Action::Fail:
        if (plan.quote_body > 0) {
          phase_ = Phase::ErrorBody;
          refusal_ = plan.error;
          error_body_.clear();
          error_body_length_ = plan.quote_body;
          arm_error_body_deadline();
          // How the text ends changes nothing now (-v still shows it).
          if (tls_log_ && !ctx_.log().should_log(spdlog::level::debug)) tls_log_->set_level(spdlog::level::off);
          return false;
        }
        fail(plan.error, Keep::Part);
        return false;
      case ResponsePlan::Action::Redirect: {
        ++redirects_;
        std::string from = where();
        if (target_.url.tls && !plan.next.tls) {
          // A pin names the one peer the user trusts: a plain http server
          // (and a Repr-Digest it sends) is not that peer.
          if (tls_options_.pin) {
            fail("refusing to follow a redirect from https to plain http with --tls-pin", Keep::Part);
            return false;
          }
          ctx_.log().warn("{} redirects to plain http: the rest of the download is not encrypted", from);
        }
        target_.url = plan.next;
        ctx_.log().debug("{} redirects ({}) to {}", from, response_.status, where());
        retire_connection();
        connect();
        return false;
      }
      case ResponsePlan::Action::StartOver:
        retried_from_zero_ = true;
        resume_from_ = 0;
        retire_connection();
        connect();
        return false;
      case ResponsePlan::Action::AlreadyComplete:
        ctx_.log().info("{} already holds all {} bytes", escape_for_log(part_), *plan.expected_size);
        base_ = plan.base;
        expected_size_ = plan.expected_size;
        expected_digest_ = plan.expected_digest;  // else, as curl and wget, complete by its length
        complete();
        return false;
      case ResponsePlan::Action::Save: break;
    }
    body_ = BodyReader(plan.framing, plan.body_limit);
    base_ = plan.base;
    expected_size_ = plan.expected_size;
    expected_digest_ = plan.expected_digest;
    // A run saves one response's body; without its Repr-Digest the hash
    // would be computed and thrown away.
    if (!expected_digest_) {
      writer_->skip_hashing();
      ctx_.log().debug("no Repr-Digest offered: the body is not hashed");
    }
    new_validator_.reset();
    if (response_.status != 206 && !to_stdout_ && !stream_target_) new_validator_ = plan.validator;
    if (plan.restart_file) {
      // The .part is emptied (and the new validator saved beside it) only
      // when the new body begins: a connection lost before that keeps the
      // old bytes, with the validator that still describes them.
      restart_pending_ = true;
    } else {
      if (!writer_->is_open()) writer_->open(part_, true);
      begin_body();
    }
    progress_->set_total(expected_size_);
    progress_->update(base_);
    progress_->start();
    return true;
  }

  // The body of an error response, which says why in words: quoted once
  // whole (bytes past it are ignored).
  void read_error_body(std::string_view data) {
    error_body_.append(data.substr(0, error_body_length_ - error_body_.size()));
    if (error_body_.size() == error_body_length_) fail(error_with_body(refusal_, response_, error_body_), Keep::Part);
  }

  void feed_body(std::string_view data, const ChunkPtr* whole) {
    BodyReader::Fed fed = body_.feed(data, whole, [this](const ChunkPtr& chunk) { emit(chunk); });
    if (!fed.error.empty()) {
      fail(fed.error, Keep::Part);
      return;
    }
    if (fed.ignored > 0) ctx_.log().debug("ignoring {} bytes after the body", fed.ignored);
    if (fed.done) complete();
  }

  // The steps that commit the .part to this response's body.
  void begin_body() {
    if (restart_pending_) {
      restart_pending_ = false;
      writer_->restart();
      part_has_data_ = false;
    }
    if (new_validator_) writer_->save_validator(*new_validator_);
    new_validator_.reset();
    if (expected_size_) writer_->reserve(*expected_size_);
  }

  void emit(const ChunkPtr& chunk) {
    if (raw_ && !writer_->is_open()) writer_->open(part_, true);  // first byte: the file exists
    if (restart_pending_) begin_body();
    writer_->write(chunk);
    progress_->update(base_ + body_.bytes());
    if (!paused_ && conn_ && writer_->queued() >= kPauseAt) {
      // The disk is behind: stop reading (TCP flow control slows the server)
      // and stop the idle clock, this wait is ours, not the server's.
      paused_ = true;
      conn_->read_pause();
      uv_timer_stop(idle_timer_.get());
    }
  }

  void maybe_resume_reading() {
    if (splicing_) {
      splice_next();
      return;
    }
    if (paused_ && conn_ && writer_->queued() <= kResumeAt &&
        (phase_ == Phase::Head || phase_ == Phase::Body)) {
      paused_ = false;
      conn_->read_resume();
      arm_idle();
    }
  }

  // ------------------------------------------------------------ splicing

  // From here on the body goes from the socket straight into the file, with
  // splice(2) on the thread pool, when nothing in it needs decoding: a body
  // with a Content-Length or one that ends at close (and --raw), into a
  // file. What libuv has already read (with the head) is queued before it.
  void maybe_splice() {
    // A .part to start over waits for the first bytes to come through emit().
    if (splicing_ || restart_pending_ || phase_ != Phase::Body || !conn_ || socket_fd_ < 0 || !writer_->can_splice())
      return;
    if (!body_.verbatim()) return;
    splicing_ = true;
    paused_ = false;  // libuv reads no more; splice_next() does the waiting
    conn_->read_pause();
    arm_idle();
    splice_next();
  }

  void splice_next() {
    if (splice_in_flight_ || !splicing_ || phase_ != Phase::Body) return;
    if (writer_->queued() > kSpliceAhead) {
      // The hash is behind: the wait is ours, not the server's.
      uv_timer_stop(idle_timer_.get());
      splice_waiting_ = true;
      return;
    }
    if (splice_waiting_) {
      splice_waiting_ = false;
      arm_idle();
    }
    splice_in_flight_ = true;
    writer_->splice_from(socket_fd_, conn_, body_.remaining(), [this](const DiskWriter::Spliced& s) { on_spliced(s); });
  }

  void on_spliced(const DiskWriter::Spliced& s) {
    splice_in_flight_ = false;
    if (phase_ != Phase::Body || !splicing_) return;
    bool done = body_.spliced(s.bytes);
    if (s.bytes > 0) {
      arm_idle();
      ctx_.counters().bytes_received += s.bytes;
      progress_->update(base_ + body_.bytes());
    }
    if (done) {
      complete();
      return;
    }
    if (s.socket_error < 0) {
      on_end(s.socket_error);
      return;
    }
    if (s.eof) {
      on_end(0);
      return;
    }
    splice_next();
  }

  std::string received_text() const {
    std::string s = std::to_string(body_.bytes());
    if (expected_size_) s += " of " + std::to_string(*expected_size_ - base_);
    return s + " bytes";
  }

  void on_end(int status) {
    if (phase_ == Phase::ErrorBody) {
      // The text cut short (EOF, a reset, a TLS truncation or protocol
      // error): the status says enough, and that failure was already decided.
      fail(refusal_, Keep::Part);
      return;
    }
    if (phase_ != Phase::Head && phase_ != Phase::Body) return;
    if (status < 0) {
      std::string why = uv_strerror(status);
      if (phase_ == Phase::Head) fail("connection failed before a response arrived: " + why, Keep::Part);
      else fail("connection failed after " + received_text() + ": " + why, Keep::Part);
      return;
    }
    if (phase_ == Phase::Head) {
      fail(head_.empty() ? "server closed the connection without answering"
                         : "connection closed in the middle of the response head",
           Keep::Part);
      return;
    }
    if (raw_ && body_.bytes() == 0) {
      fail("server sent nothing (file missing or refused)", Keep::Remove);
      return;
    }
    if (std::string incomplete = body_.at_close(received_text()); !incomplete.empty()) fail(incomplete, Keep::Part);
    else complete();
  }

  // ------------------------------------------------------------ the end

  void complete() {
    phase_ = Phase::Finishing;
    retire_connection();
    if (restart_pending_) begin_body();  // the new body is empty
    std::optional<uint64_t> size = expected_size_;
    // Without a promised length the file must still hold exactly what arrived.
    if (!size) size = base_ + body_.bytes();
    writer_->finish(size, expected_digest_, output_, [this](const DiskWriter::Outcome& o) { on_finished(o); });
  }

  void on_finished(const DiskWriter::Outcome& o) {
    if (phase_ != Phase::Finishing) return;
    if (o.digest_mismatch) {
      std::string promised = to_hex(expected_digest_->data(), expected_digest_->size());
      fail("sha-256 mismatch: the server's Repr-Digest says " + promised + ", the data hashes to " + o.actual_hex +
               (to_stdout_        ? "; what was written to stdout is corrupt"
                : stream_target_ ? "; what was written to " + escape_for_log(output_) + " is corrupt"
                                  : "; removed the corrupt " + escape_for_log(part_)),
           Keep::Remove);
      return;
    }
    if (!o.error.empty()) {
      fail(o.error, Keep::Part);
      return;
    }
    phase_ = Phase::Done;
    uv_timer_stop(idle_timer_.get());
    progress_->stop();
    const char* verified = expected_digest_ ? "sha-256 verified" : "no digest offered";
    if (to_stdout_) ctx_.log().info("wrote {} bytes to stdout ({})", o.size, verified);
    else if (stream_target_) ctx_.log().info("wrote {} bytes into {} ({})", o.size, escape_for_log(output_), verified);
    else ctx_.log().info("saved {} ({} bytes, {})", escape_for_log(output_), o.size, verified);
  }

  // Reports the failure once, stops everything and decides the .part's fate.
  void fail(const std::string& why, Keep keep, bool drop_pending = false) {
    if (phase_ == Phase::Done) return;
    phase_ = Phase::Done;
    retire_connection();
    retire_connector();
    progress_->stop();
    ctx_.log().error("{}: {}", where(), why);
    ctx_.set_exit_code(kExitRuntime);
    if (!writer_) return;
    // A --raw download cannot be continued, so its .part is worth nothing.
    bool remove = keep == Keep::Remove || raw_;
    writer_->abandon(remove, drop_pending, [this](uint64_t kept) {
      if (kept > 0 && !to_stdout_)
        ctx_.log().info("partial download kept in {} ({} bytes); run again with --resume to continue",
                        escape_for_log(part_), kept);
    });
  }

  void interrupt(bool now) {
    if (phase_ == Phase::Done || phase_ == Phase::Finishing) return;
    fail("interrupted", Keep::Part, now);
  }

  Context& ctx_;
  const OptionValues& opts_;

  // Configuration.
  bool raw_ = false;
  bool resume_ = false;
  bool silent_ = false;  // -s
  bool to_stdout_ = false;
  bool stream_target_ = false;  // -o names a FIFO or a character device: written into, never replaced
  Target target_;  // what to fetch; its url follows redirects
  std::string output_;
  std::string part_;
  int64_t max_redirects_ = 5;
  Duration idle_{30000};
  TcpConnector::Options connect_opts_;
  TlsClientOptions tls_options_;
  std::shared_ptr<TlsContext> tls_;  // made at the first TLS connection (and kept across redirects)
  // The TLS layer logs through this copy of our logger (the same sinks and
  // level), so that ErrorBody can silence it: the download has failed with
  // the status by then, and a "closed without close_notify" error about the
  // text cut short would read as a second, different failure. Made once and
  // kept: a retired connection's endpoint may still hold it.
  std::shared_ptr<spdlog::logger> tls_log_;

  // The transfer.
  Phase phase_ = Phase::Idle;
  std::shared_ptr<TcpConnector> connector_;
  std::optional<UnixAddress> unix_socket_;          // --unix-socket
  std::optional<std::string> explicit_proxy_;       // --proxy
  std::optional<ProxySpec> via_proxy_;              // this connection's proxy, if any
  std::string via_proxy_source_;                    // where it came from: "--proxy", "http_proxy", ...
  bool absolute_form_ = false;                      // plain HTTP sent to an HTTP proxy: GET http://...
  std::shared_ptr<ProxyConnector> proxy_connector_;  // a SOCKS or CONNECT tunnel
  std::shared_ptr<Endpoint> conn_;  // shared with a splice job using its socket
  int socket_fd_ = -1;               // conn_'s socket
  std::unique_ptr<DiskWriter> writer_;
  std::unique_ptr<ProgressBar> progress_;
  Handle<uv_timer_t> idle_timer_;
  bool paused_ = false;
  bool splicing_ = false;          // the body goes through splice_from(), not libuv reads
  bool splice_in_flight_ = false;
  bool splice_waiting_ = false;    // for the hash to catch up
  int64_t redirects_ = 0;
  bool retried_from_zero_ = false;
  uint64_t resume_from_ = 0;  // bytes of the .part kept; where the Range starts
  bool part_has_data_ = false;  // the .part holds bytes from an earlier attempt (truncated when a 200 begins)
  bool restart_pending_ = false;  // a 200 came for a .part with data: empty it at the first byte of the body
  std::optional<std::string> new_validator_;  // to save beside the .part when the body begins
  std::string validator_;     // saved with the .part: sent as If-Range

  // The current response.
  std::string head_;
  http::Response response_;
  std::string refusal_;            // ErrorBody: the error, waiting for the body's text
  std::string error_body_;         // ErrorBody: the text so far
  size_t error_body_length_ = 0;   // ErrorBody: the text's Content-Length
  BodyReader body_;
  bool range_sent_ = false;
  uint64_t base_ = 0;        // bytes in the file before this response's body
  std::optional<uint64_t> expected_size_;  // of the whole file
  std::optional<Digest> expected_digest_;
};

std::unique_ptr<Command> create(Context& ctx) { return std::make_unique<FileGet>(ctx); }

const PluginInfo kInfo{NETTOOL_PLUGIN_ABI,
                       "file-get",
                       "1.0",
                       "download a file (HTTP or bare-name), verify it, save it atomically",
                       "URL | HOST PORT NAME",
                       kOptions.data(),
                       kOptions.size(),
                       &create};

}  // namespace

NETTOOL_DEFINE_PLUGIN(kInfo)
