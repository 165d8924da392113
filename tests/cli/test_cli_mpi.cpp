// SPDX-License-Identifier: MIT
// The MPI build (-Dmpi=enabled): `mpirun -np 2 --oversubscribe bactor infer --hierarchical`
// writes the same draws, bit for bit, as one process with the same seed (the subjects' pieces of
// each gradient are computed on both ranks and combined in subject order on rank 0); and under
// mpirun the other commands are refused. Needs BACTOR_EXE and BACTOR_MPIRUN (tests/cli/meson.build).
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using bactor::testing::Result;

namespace {

/// `mpirun -np 2 --oversubscribe bactor ARGS` (the 2-core CI machine), output and exit code.
Result run_mpi(const std::string& args) {
  const char* mpirun = std::getenv("BACTOR_MPIRUN");
  REQUIRE_MESSAGE(mpirun, "BACTOR_MPIRUN is not set (run through meson test)");
  return bactor::testing::run_command(std::string(mpirun) + " -np 2 --oversubscribe " + bactor::testing::bactor_exe() + " " +
                                      args + " 2>&1");
}

} // namespace

TEST_CASE("cli mpi: mpirun -np 2 infer --hierarchical gives the single process's draws, bit for bit") {
  const fs::path dir = bactor::testing::scratch_path("bactor_mpi_", "identity");
  // 150 subjects: three blocks of 64 (the last one short, and its last SIMD batch padded), one
  // for rank 0 and two for rank 1.
  const std::string data = bactor::testing::simulated_cohort(dir, 150, 20, 7);
  // Short trajectories (--max-depth 5): the test is of identity, not of mixing.
  const std::string fit = "infer --data " + data + " --cost QuadraticCost --closed-form --hierarchical --chains 2 "
                          "--warmup 100 --samples 100 --max-depth 5 --seed 5 --no-log-lik --out ";
  Result r = bactor::testing::run_bactor(fit + (dir / "one").string() + " --threads 1");
  INFO(r.out);
  REQUIRE(r.code == 0);
  // Two ranks, and both chains at once on rank 0 (they take turns through the exchange).
  r = run_mpi(fit + (dir / "two").string() + " --threads 2");
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("subjects over 2 MPI ranks") != std::string::npos);
  for (const char* chain : {"chain-1.csv", "chain-2.csv"}) {
    CAPTURE(chain);
    const auto a = bactor::testing::draws_lines(dir / "one" / chain), b = bactor::testing::draws_lines(dir / "two" / chain);
    REQUIRE(a.size() > 100);  // the draws and the comment block
    REQUIRE(a.size() == b.size());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i] && differ++ < 3) MESSAGE("line " << i + 1 << ":\n  " << a[i] << "\n  " << b[i]);
    CHECK(differ == 0);
  }
}

TEST_CASE("cli mpi: under mpirun only infer --hierarchical runs") {
  Result r = run_mpi("simulate --cost QuadraticCost --trials 5 --out /dev/null");
  CHECK(r.code != 0);
  CHECK(r.out.find("under mpirun only `bactor infer --hierarchical` runs") != std::string::npos);
  const fs::path dir = bactor::testing::scratch_path("bactor_mpi_", "usage");
  fs::create_directories(dir);
  std::ofstream(dir / "d.csv") << "s,r\n1,1.1\n2,2.1\n";
  r = run_mpi("infer --data " + (dir / "d.csv").string() + " --cost QuadraticCost --closed-form --out " + (dir / "fit").string());
  CHECK(r.code != 0);
  CHECK(r.out.find("under mpirun only `infer --hierarchical` runs") != std::string::npos);
}
