// What the TLS tests share: the openssl command, a test CA with server
// certificates it signs (valid, or expired), and the pin a self-signed
// server logs. Everything is made in the test's temporary directory.
#pragma once
#include <catch2/catch.hpp>

#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "harness.h"

namespace e2e {

// openssl ARGS..., which must succeed.
inline void openssl(std::vector<std::string> args, const fs::path& dir) {
  args.insert(args.begin(), "openssl");
  Process p(args, ProcessOptions().stdout_null().stderr_to(dir / "openssl.err"));
  int rc = p.wait();
  INFO("openssl failed: " << read_file(dir / "openssl.err"));
  REQUIRE(rc == 0);
}

// A CA and a server certificate it signed for localhost and 127.0.0.1, valid two days.
struct TestPki {
  fs::path dir, ca, ca_key, server_cert, server_key;

  explicit TestPki(const fs::path& where) : dir(where) {
    ca = dir / "ca.pem";
    ca_key = dir / "ca.key";
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             ca_key.string(), "-out", ca.string(), "-days", "2", "-subj", "/CN=nettool test CA"},
            dir);
    std::tie(server_cert, server_key) = issue("server");
  }

  // Another localhost/127.0.0.1 certificate from the CA (or for the names
  // in `san`), with a key of its own: NAME.pem and NAME.key. `expired`:
  // valid only on 2020-01-01 (issue_dated()).
  std::pair<fs::path, fs::path> issue(const std::string& name, bool expired = false,
                                      const std::string& san = "DNS:localhost,IP:127.0.0.1") {
    if (expired) return issue_dated(name, "20200101000000Z", "20200102000000Z", san);
    const Request r = request(name, san);
    openssl({"x509", "-req", "-in", r.csr.string(), "-CA", ca.string(), "-CAkey", ca_key.string(), "-CAcreateserial",
             "-out", r.cert.string(), "-days", "2", "-extfile", r.ext.string()},
            dir);
    return {r.cert, r.key};
  }

  // A certificate valid only from `start` to `end` (YYYYMMDDHHMMSSZ), as issue().
  std::pair<fs::path, fs::path> issue_dated(const std::string& name, const std::string& start, const std::string& end,
                                            const std::string& san = "DNS:localhost,IP:127.0.0.1") {
    const Request r = request(name, san);
    // `openssl x509` cannot date a certificate in the past; `openssl ca` can.
    const fs::path db = dir / (name + ".db"), conf = dir / (name + ".ca.cnf");
    write_file(db, "");
    write_file(dir / (name + ".serial"), "01\n");
    write_file(conf, "[ca]\ndefault_ca = test\n[test]\ndatabase = " + db.string() + "\nnew_certs_dir = " +
                         dir.string() + "\nserial = " + (dir / (name + ".serial")).string() +
                         "\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n");
    openssl({"ca", "-batch", "-notext", "-config", conf.string(), "-cert", ca.string(), "-keyfile", ca_key.string(),
             "-in", r.csr.string(), "-out", r.cert.string(), "-startdate", start, "-enddate", end, "-extfile",
             r.ext.string()},
            dir);
    return {r.cert, r.key};
  }

 private:
  // NAME.key and a signing request for it (CN=localhost, `san`), and where
  // NAME.pem is to go.
  struct Request {
    fs::path cert, key, csr, ext;
  };
  Request request(const std::string& name, const std::string& san) {
    Request r{dir / (name + ".pem"), dir / (name + ".key"), dir / (name + ".csr"), dir / "ext.cnf"};
    openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", r.key.string(), "-out",
             r.csr.string(), "-subj", "/CN=localhost"},
            dir);
    write_file(r.ext, "subjectAltName=" + san + "\n");
    return r;
  }
};

// The pin a self-signed server logs.
inline std::string logged_pin(const std::string& stderr_text) {
  std::smatch m;
  static const std::regex kPin("self-signed certificate, pin (sha256//[A-Za-z0-9+/=]+)");
  return std::regex_search(stderr_text, m, kPin) ? m[1].str() : "";
}

// The port `openssl s_server -accept 127.0.0.1:0` announces ("ACCEPT ...:PORT").
inline std::string s_server_port(Process& server) {
  if (!server.wait_stdout_contains("ACCEPT")) return "";
  std::string announced = server.stdout_text();
  announced = announced.substr(0, announced.find('\n', announced.find("ACCEPT")));
  std::string port = announced.substr(announced.rfind(':') + 1);
  return port.substr(0, port.find_first_not_of("0123456789"));
}

}  // namespace e2e
