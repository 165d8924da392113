// SPDX-License-Identifier: MIT
// Shared by the simulation-based calibration tests (test_sbc.cpp, test_sbc_families.cpp; Talts
// et al. 2018): the rank of a true value among thinned posterior draws, rank histograms and their
// Pearson chi^2 against the uniform, and the divergence count of a run.
#pragma once

#include <bactor/samplers/nuts.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

namespace bactor::testing {

/// Post-warm-up draws of column `name`, chains concatenated in order.
inline std::vector<double> column_of(const std::vector<ChainResult>& chains, const std::string& name) {
  std::vector<double> draws;
  for (const auto& c : chains) {
    const auto col = std::size_t(std::find(c.columns.begin(), c.columns.end(), name) - c.columns.begin());
    REQUIRE_MESSAGE(col < c.columns.size(), "no column " << name);
    for (std::size_t row = std::size_t(c.warmup_draws_saved); row < c.rows(); ++row)
      draws.push_back(c.draws[row * c.columns.size() + col]);
  }
  return draws;
}

/// The rank of `truth` among `kept` draws of column `name`, every `thin`-th (0..kept): the number
/// below the truth. Thinning makes the kept draws nearly independent, as the rank test assumes.
inline int sbc_rank(const std::vector<ChainResult>& chains, const std::string& name, double truth, int kept, int thin) {
  const auto draws = column_of(chains, name);
  REQUIRE(draws.size() >= std::size_t(kept) * std::size_t(thin));
  int rank = 0;
  for (int i = 0; i < kept; ++i) rank += draws[std::size_t(i) * std::size_t(thin)] < truth;
  return rank;
}

/// Divergent post-warm-up draws of a run.
inline std::size_t divergent_draws(const std::vector<ChainResult>& chains) {
  std::size_t n = 0;
  for (double d : column_of(chains, "divergent__")) n += d != 0;
  return n;
}

/// Ranks 0..kept in `bins` equal bins ((kept + 1) divisible by bins) and Pearson's chi^2 of the
/// counts against the uniform (bins - 1 degrees of freedom).
struct RankHistogram {
  int bins = 10, kept = 99;
  std::vector<int> counts;

  RankHistogram(int bins_, int kept_) : bins(bins_), kept(kept_), counts(std::size_t(bins_), 0) {
    REQUIRE((kept + 1) % bins == 0);
  }
  void add(int rank) { ++counts[std::size_t(rank * bins / (kept + 1))]; }
  int total() const {
    int n = 0;
    for (int c : counts) n += c;
    return n;
  }
  double chi2() const {
    const double expected = double(total()) / bins;
    double x = 0;
    for (int c : counts) x += (c - expected) * (c - expected) / expected;
    return x;
  }
  std::string text() const {
    std::ostringstream os;
    os << "chi^2 " << chi2() << "  [";
    for (int c : counts) os << " " << c;
    os << " ]";
    return os.str();
  }
};

/// 99.9% quantiles of chi^2 with 4, 9 and 19 degrees of freedom (scipy.stats.chi2.ppf(0.999, dof)):
/// the bounds of the rank tests with 5, 10 and 20 bins.
inline constexpr double chi2_999_dof4 = 18.467, chi2_999_dof9 = 27.877, chi2_999_dof19 = 43.820;

} // namespace bactor::testing
