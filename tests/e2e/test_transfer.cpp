// Bulk data: integrity of large transfers, backpressure, and every kind of
// stdin/stdout (regular file, /dev/null, pipe).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <thread>

#include "harness.h"

using namespace e2e;

namespace {
constexpr size_t KiB = 1024;
constexpr size_t MiB = 1024 * KiB;
}  // namespace

TEST_CASE("64 MiB of random bytes through tcp-connect to tcp-listen --echo and back are intact", "[transfer]") {
  TempDir dir;
  const auto in = dir / "in.bin";
  const auto back = dir / "back.bin";
  write_random_file(in, 64 * MiB, 1);

  auto l = start_listener({"tcp-listen", "--echo", "127.0.0.1", "0"});
  auto r = run_nettool({"tcp-connect", "127.0.0.1", std::to_string(l.port)},
                       ProcessOptions().stdin_from(in).stdout_to(back));
  INFO("tcp-connect stderr: " << r.err);
  INFO("tcp-listen stderr: " << l.proc.stderr_text());
  REQUIRE(r.exit_code == 0);
  CHECK(fs::file_size(back) == 64 * MiB);
  CHECK(sha256_file(back) == sha256_file(in));
  // Without -k the echo listener serves one client and exits cleanly after it.
  CHECK(l.proc.wait() == 0);
}

TEST_CASE("64 MiB from tcp-connect into tcp-listen -d (recv-only) land intact in its stdout file", "[transfer]") {
  TempDir dir;
  const auto in = dir / "in.bin";
  const auto received = dir / "received.bin";
  write_random_file(in, 64 * MiB, 2);

  auto l = start_listener({"tcp-listen", "-d", "127.0.0.1", "0"}, ProcessOptions().stdout_to(received));
  auto r = run_nettool({"tcp-connect", "127.0.0.1", std::to_string(l.port)}, ProcessOptions().stdin_from(in));
  INFO("tcp-connect stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());  // -d on the far side sends nothing back
  INFO("tcp-listen stderr: " << l.proc.stderr_text());
  REQUIRE(l.proc.wait() == 0);  // exits once the client's EOF is flushed to the file
  CHECK(fs::file_size(received) == 64 * MiB);
  CHECK(sha256_file(received) == sha256_file(in));
}

// Bound: tcp-connect's peak RSS (VmHWM) stays under 64 MiB while 256 MiB go
// through it into a reader that is much slower than the producer. The copying
// relay (NETTOOL_NO_SPLICE=1) stops reading stdin once 1 MiB (kHighWatermark)
// is queued for the socket, and reads are 64 KiB, so what is buffered stays
// around 1-2 MiB on top of the binary's own few MiB; without backpressure most
// of the 256 MiB would pile up in memory. The splice path holds no bytes at
// all (the kernel's buffers hold them); it must stay bounded too.
// Under ASan/UBSan the runtime's own overhead is larger, so the
// bound is relaxed there (and the quarantine kept small).
TEST_CASE("backpressure: 256 MiB from a pipe into a slow reader keep tcp-connect's memory bounded", "[transfer][memory]") {
  const bool copying = GENERATE(true, false);
  INFO("path: " << (copying ? "NETTOOL_NO_SPLICE=1" : "splice"));
  constexpr uint64_t kTotal = 256 * MiB;
#ifdef NETTOOL_E2E_SANITIZED
  constexpr long kBoundKiB = 160 * 1024;
#else
  constexpr long kBoundKiB = 64 * 1024;
#endif
  TcpServer server;
  auto opts = ProcessOptions().stdin_pipe().stdout_null();
  if (copying) opts.setenv("NETTOOL_NO_SPLICE", "1");
#ifdef NETTOOL_E2E_SANITIZED
  const char* asan = std::getenv("ASAN_OPTIONS");
  opts.setenv("ASAN_OPTIONS", std::string(asan ? asan : "") + ":quarantine_size_mb=16");
#endif
  Process nt(nettool_argv({"tcp-connect", "127.0.0.1", std::to_string(server.port())}), opts);

  // Producer: the pattern into tcp-connect's stdin as fast as the pipe takes it.
  std::atomic<bool> writer_ok{true};
  std::jthread writer([&](std::stop_token stop) {
    std::string block(1 * MiB, '\0');
    for (uint64_t offset = 0; offset < kTotal && !stop.stop_requested(); offset += block.size()) {
      fill_pattern(block.data(), block.size(), offset);
      std::string_view rest(block);
      // Short slices so a failing test is not held up by a blocked write.
      while (!rest.empty() && !stop.stop_requested()) {
        size_t n = std::min<size_t>(rest.size(), 64 * KiB);
        size_t written = 0;
        bool all = nt.write_stdin(rest.substr(0, n), 200ms, &written);
        rest.remove_prefix(written);  // a timed-out write may still have sent part of the slice
        if (!all && !nt.running()) {
          writer_ok = false;
          return;
        }
      }
    }
    nt.close_stdin();
  });

  Socket s = server.accept(kStartTimeout);
  REQUIRE(s.valid());
  // Slow consumer: 256 KiB, then a 5 ms nap (~40 MiB/s at best).
  uint64_t received = 0;
  bool intact = true;
  long peak_kib = 0;
  ReadEnd how = ReadEnd::Timeout;
  for (;;) {
    std::string chunk = s.recv_exact(256 * KiB, kIoTimeout, &how);
    if (intact && !matches_pattern(chunk, received)) intact = false;
    received += chunk.size();
    if (auto hwm = vm_hwm_kib(nt.pid())) peak_kib = std::max(peak_kib, *hwm);
    if (chunk.size() < 256 * KiB) break;  // EOF, reset or timeout
    std::this_thread::sleep_for(5ms);
  }
  s.close();
  writer.request_stop();
  writer.join();
  INFO("read ended with " << to_string(how) << " after " << received << " bytes; tcp-connect stderr: "
                          << nt.stderr_text());
  CHECK(writer_ok);
  CHECK(how == ReadEnd::Eof);
  CHECK(received == kTotal);
  CHECK(intact);
  CHECK(peak_kib > 0);
  CHECK(peak_kib < kBoundKiB);
  CHECK(nt.wait() == 0);
}

TEST_CASE("tcp-connect works with stdin from a file, /dev/null or a pipe and stdout to a file, /dev/null or a pipe",
          "[transfer][stdio]") {
  TempDir dir;
  const std::string input = random_bytes(300 * KiB, 3);  // more than a pipe holds
  const auto in_file = dir / "in.bin";
  write_file(in_file, input);
  const std::string tail = random_bytes(512 * KiB, 4);

  for (Input in : {Input::File, Input::Null, Input::Pipe}) {
    for (Output out : {Output::File, Output::Null, Output::Pipe}) {
      const char* in_name = in == Input::File ? "file" : in == Input::Null ? "/dev/null" : "pipe";
      const char* out_name = out == Output::File ? "file" : out == Output::Null ? "/dev/null" : "pipe";
      INFO("stdin from " << in_name << ", stdout to " << out_name);
      const std::string expected_in = in == Input::Null ? std::string() : input;

      // The peer reads to EOF, then answers with a digest of what it got and a
      // 512 KiB tail, so both directions carry real data.
      std::string got;
      ReadEnd got_end = ReadEnd::Timeout;
      bool reply_sent = false;
      PeerThread peer([&](Socket& s) {
        got = s.recv_all(kIoTimeout, &got_end);
        reply_sent = s.send_all(sha256_hex(got) + "\n" + tail);
      });
      const std::string reply = sha256_hex(expected_in) + "\n" + tail;

      const auto out_file = dir / (std::string("out-") + in_name[1] + out_name[1]);
      Process nt(nettool_argv({"tcp-connect", "127.0.0.1", std::to_string(peer.port())}),
                 ProcessOptions().stdin_kind(in, in_file).stdout_kind(out, out_file));
      std::string printed;
      if (in == Input::Pipe && out == Output::Pipe) {
        printed = nt.communicate(input);
      } else {
        if (in == Input::Pipe) {
          CHECK(nt.write_stdin(input));
          nt.close_stdin();
        }
        if (out == Output::Pipe) printed = nt.read_stdout();
      }
      int code = nt.wait();
      peer.join();
      INFO("tcp-connect stderr: " << nt.stderr_text() << " peer: " << peer.error());
      CHECK(code == 0);
      CHECK(peer.error().empty());
      CHECK(got_end == ReadEnd::Eof);
      CHECK(got.size() == expected_in.size());
      CHECK(got == expected_in);
      CHECK(reply_sent);
      if (out == Output::File) printed = read_file(out_file);
      if (out != Output::Null) {
        CHECK(printed.size() == reply.size());
        CHECK(printed == reply);
      }
    }
  }
}

TEST_CASE("tcp-listen works with stdin from a file, /dev/null or a pipe and stdout to a file, /dev/null or a pipe",
          "[transfer][stdio]") {
  TempDir dir;
  const std::string input = random_bytes(300 * KiB, 5);
  const auto in_file = dir / "in.bin";
  write_file(in_file, input);
  const std::string from_client = random_bytes(200 * KiB, 6);

  for (Input in : {Input::File, Input::Null, Input::Pipe}) {
    for (Output out : {Output::File, Output::Null, Output::Pipe}) {
      const char* in_name = in == Input::File ? "file" : in == Input::Null ? "/dev/null" : "pipe";
      const char* out_name = out == Output::File ? "file" : out == Output::Null ? "/dev/null" : "pipe";
      INFO("stdin from " << in_name << ", stdout to " << out_name);
      const std::string expected_in = in == Input::Null ? std::string() : input;
      const auto out_file = dir / (std::string("out-") + in_name[1] + out_name[1]);
      auto l = start_listener({"tcp-listen", "127.0.0.1", "0"},
                              ProcessOptions().stdin_kind(in, in_file).stdout_kind(out, out_file));
      // The client sends its data and reads all of tcp-listen's stdin before it
      // half-closes: in one-client mode the client's EOF ends the session (nc -l
      // does the same), so an early EOF would legitimately cut stdin short.
      std::string got;
      ReadEnd got_end = ReadEnd::Timeout;
      bool sent = false;
      std::jthread client([&] {
        Socket s = try_connect_tcp(l.port);
        if (!s.valid()) return;
        sent = s.send_all(from_client);
        got = s.recv_exact(expected_in.size());
        s.shutdown_write();
        got += s.recv_all(kIoTimeout, &got_end);
      });
      std::string printed;
      if (in == Input::Pipe && out == Output::Pipe) {
        printed = l.proc.communicate(input);
      } else {
        if (in == Input::Pipe) {
          CHECK(l.proc.write_stdin(input));
          l.proc.close_stdin();
        }
        if (out == Output::Pipe) printed = l.proc.read_stdout();
      }
      int code = l.proc.wait();
      client.join();
      INFO("tcp-listen stderr: " << l.proc.stderr_text());
      CHECK(code == 0);
      CHECK(sent);
      CHECK(got_end == ReadEnd::Eof);
      CHECK(got.size() == expected_in.size());
      CHECK(got == expected_in);
      if (out == Output::File) printed = read_file(out_file);
      if (out != Output::Null) {
        CHECK(printed.size() == from_client.size());
        CHECK(printed == from_client);
      }
    }
  }
}
