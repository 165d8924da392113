// SPDX-License-Identifier: MIT
#include "models/likelihood.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace bactor::detail {

void RowTrials::finish() {
  stats = PowerStats{};
  for (std::size_t i = 0; i < x.size(); ++i) stats.add(x[i], y[i]);
  if (r.size() != y.size()) {  // else the caller gave the responses (e.g. r <= 0 under gaussian motor noise)
    r.resize(y.size());
    for (std::size_t i = 0; i < y.size(); ++i) r[i] = std::exp(y[i]);
  }
  px = x;
  py = y;
  pr = r;
  pw.assign(x.size(), 1.0);
  const std::size_t lanes = simd_lanes();
  // Padding repeats the first trial (any finite values do) with weight 0.
  while (!x.empty() && px.size() % lanes) px.push_back(x[0]), py.push_back(y[0]), pr.push_back(r[0]), pw.push_back(0.0);
}

double* MarginalForm::scratch_padded(std::size_t n) {
  thread_local std::vector<double> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

std::optional<HeadTable<MupostHead>> MupostSource::head(const double* theta, const RowTrials& t, State&,
                                                        std::size_t row) const {
  const double sig = theta[theta_index::sigma];
  return mupost_table(MupostHead{net, theta, &ws[row]}, t.x, sig, rules->for_sigma(sig));
}

std::optional<ExactHead> ExactSource::head(const double* theta, const RowTrials& t, State&) const {
  const std::size_t nt = n_in();
  for (std::size_t k = 0; k < nt; ++k)
    if (!std::isfinite(theta[k])) return std::nullopt;
  const bool linear = perception == PerceptionModel::gaussian;  // mu_0 of any sign there
  if (!(theta[theta_index::sigma_0] > 0) || !(theta[theta_index::mu_0] > 0 || linear)) return std::nullopt;
  double u_lo, u_hi;
  exact_action_range(t.x, theta[theta_index::sigma], *opt, u_lo, u_hi);
  try {
    return ExactHead(*cost, std::span<const double>(theta, nt), u_lo, u_hi, *opt, motor, perception);
  } catch (const std::domain_error&) {  // no minimum of the expected cost: the actor is undefined
    return std::nullopt;
  }
}

namespace lik {

namespace {
inline void add_at(Var v, std::size_t i, double d) {
  if (double* a = v.node()->grad()) a[i] += d;
}

/// dz (+)= d gz over every latent (the node alone writes z's adjoint). Not inlined: its loops
/// stay vectorised (the row loops below are compiled without the vectoriser).
[[gnu::noinline]] void latent_backward(Node* zn, const double* gz, double d) {
  const std::size_t nz = zn->size();
  if (zn->claim_adjoint()) {
    if (d == 1.0) std::memcpy(zn->adj, gz, nz * sizeof(double));  // the usual seed
    else
      for (std::size_t k = 0; k < nz; ++k) zn->adj[k] = d * gz[k];
  } else {
    for (std::size_t k = 0; k < nz; ++k) zn->adj[k] += d * gz[k];
  }
}
} // namespace

// The loops run over a row's few inputs (4 to 12): without the vectoriser's set-up and alias
// checks the reverse pass of a closed-form gradient takes about 40 fewer instructions.
#pragma GCC push_options
#pragma GCC optimize("no-tree-vectorize")
template <bool Net, bool Lapse, bool Motor>
void backward(Node& n) {
  const Op& op = *static_cast<const Op*>(n.data);
  const double d = n.adj[0];
  const std::size_t w = op.width, n_in = op.n_in;
  double* av = op.V.node()->grad();
  for (std::size_t r = 0; r < op.n_rows; ++r) {
    const RowRef& row = op.rows[r];
    const double* g = op.g + r * w;
    if constexpr (Net) {
      if (Node* xn = op.net_out[r].node())
        if (double* a = xn->grad())
          for (std::size_t k = 0; k < n_in; ++k) a[k] += d * g[k];
      if (av) {
        av[row.theta_at + theta_index::sigma] += d * g[n_in];
        av[row.theta_at + theta_index::sigma_r] += d * g[n_in + 1];
      }
    } else if (av) {
      double* a = av + row.theta_at;
      for (std::size_t k = 0; k < n_in; ++k) a[k] += d * g[k];
    }
    if constexpr (Lapse)
      if (av) av[row.eps_at] += d * g[w - 1];
    if constexpr (Motor)
      if (av)
        for (std::size_t k = 0; k < 2; ++k)
          if (op.motor_at[k] != std::size_t(-1)) av[row.theta_at + op.motor_at[k]] += d * g[w - 2 - Lapse + k];
  }
  if (!op.acc.empty()) add_at(op.acc.v, op.acc.i, d);
  if (op.gz && op.z.needs_grad()) latent_backward(op.z.node(), op.gz, d);
}

template void backward<false, false, false>(Node&);
template void backward<false, true, false>(Node&);
template void backward<true, false, false>(Node&);
template void backward<true, true, false>(Node&);
template void backward<false, false, true>(Node&);
template void backward<true, false, true>(Node&);
template void backward<false, true, true>(Node&);
template void backward<true, true, true>(Node&);

#pragma GCC pop_options

} // namespace lik

} // namespace bactor::detail
