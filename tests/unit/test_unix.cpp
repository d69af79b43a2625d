// Unix domain socket addresses: what unix:/PATH, unix:@NAME and -U PATH mean,
// and which are refused before anything is created.
#include <catch2/catch.hpp>

#include <sys/un.h>

#include <cstddef>
#include <cstring>

#include "nettool/error.h"
#include "nettool/unix.h"

using namespace nettool;

TEST_CASE("unix addresses: unix:/PATH is a socket file, unix:@NAME an abstract name, anything else not one", "[unix]") {
  auto file = parse_unix_address("unix:/run/app.sock");
  REQUIRE(file);
  CHECK(file->path == "/run/app.sock");
  CHECK_FALSE(file->abstract);
  CHECK(file->to_string() == "unix:/run/app.sock");

  auto abstract = parse_unix_address("unix:@app");
  REQUIRE(abstract);
  CHECK(abstract->path == "app");
  CHECK(abstract->abstract);
  CHECK(abstract->to_string() == "unix:@app");

  auto relative = parse_unix_address("unix:app.sock");  // relative to the working directory, as with nc -U
  REQUIRE(relative);
  CHECK(relative->path == "app.sock");

  CHECK_FALSE(parse_unix_address("127.0.0.1"));
  CHECK_FALSE(parse_unix_address("unixhost"));
  CHECK_FALSE(parse_unix_address("/run/app.sock"));  // a bare path only with -U
}

TEST_CASE("unix addresses: -U PATH takes the path as it is, @NAME as abstract", "[unix]") {
  CHECK(unix_address_of_path("/tmp/x.sock").to_string() == "unix:/tmp/x.sock");
  CHECK(unix_address_of_path("@x").abstract);
}

TEST_CASE("unix addresses: an empty path or one longer than sun_path holds is a usage error", "[unix]") {
  CHECK_THROWS_AS(parse_unix_address("unix:"), ConfigError);
  CHECK_THROWS_AS(parse_unix_address("unix:@"), ConfigError);
  CHECK_NOTHROW(parse_unix_address("unix:/" + std::string(106, 'a')));  // 107 bytes + NUL = 108
  CHECK_THROWS_WITH(parse_unix_address("unix:/" + std::string(107, 'a')),
                    Catch::Contains("longer than a Unix socket address can be"));
  CHECK_NOTHROW(parse_unix_address("unix:@" + std::string(107, 'a')));  // NUL + 107 bytes
  CHECK_THROWS_AS(parse_unix_address("unix:@" + std::string(108, 'a')), ConfigError);
}

TEST_CASE("unix addresses: a peer's name is shown with its control characters escaped", "[unix]") {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  static constexpr char kName[] = "\0evil\x1b[31mRED\nFAKE LOG LINE\x07";
  const std::string name(kName, sizeof kName - 1);
  std::memcpy(sun.sun_path, name.data(), name.size());
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  CHECK(format_unix_address(reinterpret_cast<sockaddr*>(&sun), len) ==
        "unix:@evil\\x1b[31mRED\\x0aFAKE LOG LINE\\x07");
  std::memcpy(sun.sun_path, "/tmp/a\nb", 9);
  CHECK(format_unix_address(reinterpret_cast<sockaddr*>(&sun), offsetof(sockaddr_un, sun_path) + 10) ==
        "unix:/tmp/a\\x0ab");
}
