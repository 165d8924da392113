// SPDX-License-Identifier: MIT
// Network files: bit-exact round trip, and rejection of truncated, corrupted or mismatched files.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include <bactor/models/network.hpp>
#include <bactor/models/safetensors.hpp>
#include <bactor/models/train.hpp>

using namespace bactor;

static std::string tmp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/bactor_test_" + name + ".safetensors";
}
static std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
static void spit(const std::string& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
}

static ActionNetwork small_net() {
  TrainSettings s;
  s.cost = "QuadraticCostQuadraticEffort";
  s.batch = 32;
  s.steps = 5;
  s.eval_points = 8;
  Trainer tr(s);
  for (int i = 0; i < 5; ++i) tr.step();
  tr.eval_rmse();
  return tr.network();
}

TEST_CASE("save -> load round trip is bit-exact, metadata kept") {
  const ActionNetwork net = small_net();
  const std::string p = tmp_path("roundtrip");
  net.save(p);
  const ActionNetwork back = ActionNetwork::load(p);
  REQUIRE(back.parameters().size() == net.parameters().size());
  CHECK(std::memcmp(back.parameters().data(), net.parameters().data(), net.parameters().size_bytes()) == 0);
  CHECK(back.cost_name() == net.cost_name());
  CHECK(back.param_names() == net.param_names());
  CHECK(back.layout().sizes == net.layout().sizes);
  CHECK(back.metadata().at("seed") == "1");
  CHECK(back.metadata().count("eval_rmse") == 1);
  CHECK(back.metadata().count("training_priors") == 1);
  const std::vector<double> th{0.2, 0.3, 2.0, 0.15, 0.8};
  CHECK(back.action(th, 1.7) == net.action(th, 1.7));
  // Saving again gives the same bytes.
  const std::string p2 = tmp_path("roundtrip2");
  back.save(p2);
  CHECK(slurp(p) == slurp(p2));
  std::remove(p.c_str());
  std::remove(p2.c_str());
}

TEST_CASE("truncated, corrupted and mismatched files are rejected with the file name") {
  const ActionNetwork net = small_net();
  const std::string good = tmp_path("good"), bad = tmp_path("bad");
  net.save(good);
  const std::string bytes = slurp(good);
  std::uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  const std::string header = bytes.substr(8, n);

  auto rejects = [&](const std::string& content, const std::string& why) {
    spit(bad, content);
    CAPTURE(why);
    CHECK_THROWS_WITH_AS(ActionNetwork::load(bad), doctest::Contains(bad.c_str()), std::invalid_argument);
  };
  rejects(bytes.substr(0, 5), "shorter than the length field");
  rejects(bytes.substr(0, 8 + n / 2), "truncated header");
  rejects(bytes.substr(0, bytes.size() - 4), "truncated data");
  rejects(bytes + "xxxx", "trailing bytes");
  {
    std::string b = bytes;
    const std::uint64_t huge = 1ull << 40;
    std::memcpy(b.data(), &huge, 8);
    rejects(b, "header length beyond the file");
  }
  {
    std::string b = bytes;
    b[8] = '[';
    rejects(b, "bad JSON");
  }
  auto with_header = [&](const std::string& h) {
    std::string len(8, '\0');
    const std::uint64_t hn = h.size();
    std::memcpy(len.data(), &hn, 8);
    return len + h + bytes.substr(8 + n);
  };
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string h = header;
    const auto pos = h.find(from);
    REQUIRE(pos != std::string::npos);
    h.replace(pos, from.size(), to);
    return with_header(h);
  };
  rejects(replace("\"F32\"", "\"F16\""), "dtype");
  rejects(replace("QuadraticCostQuadraticEffort", "QuadraticCostQuadraticEffortX"), "unknown cost");
  rejects(replace("\"cost\":\"QuadraticCostQuadraticEffort\"", "\"cost\":\"QuadraticCost\""), "cost/param mismatch");
  rejects(replace("[64,16]", "[16,64]"), "shape inconsistent");
  {
    // A NaN weight in the data section.
    std::string b = bytes;
    const float nan = std::nanf("");
    std::memcpy(b.data() + 8 + n + 4, &nan, 4);
    rejects(b, "non-finite weight");
  }
  CHECK_THROWS_WITH_AS(ActionNetwork::load(tmp_path("does_not_exist")), doctest::Contains("cannot open"),
                       std::invalid_argument);
  std::remove(good.c_str());
  std::remove(bad.c_str());
}

TEST_CASE("overlapping tensors are rejected") {
  SafetensorsContent c;
  c.tensors.push_back({"a", {2}, {1.0f, 2.0f}});
  c.tensors.push_back({"b", {2}, {3.0f, 4.0f}});
  const std::string p = tmp_path("overlap");
  write_safetensors(p, c);
  std::string bytes = slurp(p);
  const auto pos = bytes.find("[8,16]");
  REQUIRE(pos != std::string::npos);
  bytes.replace(pos, 6, "[0, 8]");
  spit(p, bytes);
  CHECK_THROWS_WITH_AS(read_safetensors(p), doctest::Contains("overlaps"), std::invalid_argument);
  std::remove(p.c_str());
}
