// The server side of a TLS endpoint (libnettool-tls) fed arbitrary bytes as
// if a client sent them, in two reads and then the end of the stream: no
// crash, no leak, whatever arrives before, during or after a handshake. The
// context (a self-signed certificate) is made once; each input gets a fresh
// endpoint over a fake connection that only records what would be sent.
// Property: after the input and its end, end() always completes.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "nettool/stream.h"
#include "nettool/tls.h"

extern "C" const nettool::TlsProvider* nettool_tls_provider();

namespace {

using namespace nettool;

// A connection whose reads we drive and whose writes go nowhere.
class FakeConnection final : public Endpoint {
 public:
  std::string describe() const override { return "fuzz"; }
  bool readable() const override { return true; }
  void read_start(DataFn on_data, EndFn on_end) override {
    on_data_ = std::move(on_data);
    on_end_ = std::move(on_end);
  }
  void read_pause() override {}
  void read_resume() override {}
  bool writable() const override { return true; }
  void write(const ChunkPtr& chunk) override { sent_ += chunk->size; }
  size_t queued_bytes() const override { return 0; }
  void end(DoneFn done) override {
    if (done) done(0);
  }

  void deliver(std::string_view bytes) {
    if (on_data_ && !bytes.empty()) on_data_(make_chunk(bytes));
  }
  void finish() {
    if (on_end_) on_end_(0);
  }

 private:
  DataFn on_data_;
  EndFn on_end_;
  size_t sent_ = 0;
};

spdlog::logger& quiet_log() {
  static auto log = std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>());
  return *log;
}

TlsContext& server_context() {
  static std::shared_ptr<TlsContext> context = [] {
    TlsServerOptions options;
    options.enabled = true;  // no certificate: a self-signed one
    return nettool_tls_provider()->server(options, quiet_log());
  }();
  return *context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto fake = std::make_unique<FakeConnection>();
  FakeConnection* connection = fake.get();
  bool ended = false;
  auto tls = make_tls_endpoint(nullptr, std::move(fake), server_context(), "", &quiet_log(), false,
                               [](const std::string&, const TlsSession&) {});
  tls->read_start([](const ChunkPtr&) {}, [&ended](int) { ended = true; });
  tls->write(make_chunk("an answer written before the handshake ends"));
  connection->deliver(input.substr(0, size / 2));
  if (!ended) connection->deliver(input.substr(size / 2));
  if (!ended) connection->finish();
  // Whatever happened, the handshake is over (done or failed) and end() completes.
  bool end_done = false;
  tls->end([&end_done](int) { end_done = true; });
  if (!end_done) __builtin_trap();
  return 0;
}
