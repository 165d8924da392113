// SPDX-License-Identifier: MIT
#include "models/likelihood.hpp"

#include <cstring>
#include <stdexcept>

namespace bactor::detail {

void RowTrials::finish() {
  stats = PowerStats{};
  for (std::size_t i = 0; i < x.size(); ++i) stats.add(x[i], y[i]);
  r.resize(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) r[i] = std::exp(y[i]);
  px = x;
  py = y;
  pw.assign(x.size(), 1.0);
  const std::size_t lanes = simd_lanes();
  // Padding repeats the first trial (any finite values do) with weight 0.
  while (!x.empty() && px.size() % lanes) px.push_back(x[0]), py.push_back(y[0]), pw.push_back(0.0);
}

double* MarginalForm::scratch_padded(std::size_t n) {
  thread_local std::vector<double> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

std::optional<PowerHead> ClosedFormSource::head(const double* theta, const RowTrials&, State& st) const {
  const double mu = theta[theta_index::mu_0];
  if (!(mu == mu_)) mu_ = mu, lmu_ = std::log(mu);
  double lbeta = 0;
  if (form == ClosedForm::quadratic_effort) {
    const double beta = theta[theta_index::first_cost_param];
    if (!(beta == beta_)) beta_ = beta, lbeta_ = std::log(beta);
    lbeta = lbeta_;
  }
  return closed_form_head_logs(form, std::span<const double>(theta, nt), st.jac, lmu_, lbeta);
}

std::optional<HeadTable<MupostHead>> MupostSource::head(const double* theta, const RowTrials& t, State&,
                                                        std::size_t row) const {
  const double sig = theta[theta_index::sigma];
  return mupost_table(MupostHead{net, theta, &ws[row]}, t.x, sig, rules->for_sigma(sig));
}

std::optional<ExactHead> ExactSource::head(const double* theta, const RowTrials& t, State&) const {
  const std::size_t nt = theta_size(*cost);
  for (std::size_t k = 0; k < nt; ++k)
    if (!std::isfinite(theta[k])) return std::nullopt;
  if (!(theta[theta_index::sigma_0] > 0) || !(theta[theta_index::mu_0] > 0)) return std::nullopt;
  double u_lo, u_hi;
  exact_action_range(t.x, theta[theta_index::sigma], *opt, u_lo, u_hi);
  try {
    return ExactHead(*cost, std::span<const double>(theta, nt), u_lo, u_hi, *opt);
  } catch (const std::domain_error&) {  // no minimum of the expected cost: the actor is undefined
    return std::nullopt;
  }
}

namespace lik {

namespace {
inline void add_at(Var v, std::size_t i, double d) {
  if (double* a = v.node()->grad()) a[i] += d;
}
} // namespace

void backward(Node& n) {
  const Op& op = *static_cast<const Op*>(n.data);
  const double d = n.adj[0];
  const std::size_t w = op.n_in + row_extra;
  double* av = op.V.node()->grad();
  for (std::size_t r = 0; r < op.n_rows; ++r) {
    const RowRef& row = op.rows[r];
    const double* g = op.g + r * w;
    double* a = op.net_out ? (op.net_out[r].node() ? op.net_out[r].node()->grad() : nullptr)
                           : (av ? av + row.theta_at : nullptr);
    if (a)
      for (std::size_t k = 0; k < op.n_in; ++k) a[k] += d * g[k];
    if (av) {
      av[row.theta_at + theta_index::sigma] += d * g[op.n_in];
      av[row.theta_at + theta_index::sigma_r] += d * g[op.n_in + 1];
      if (op.lapse) av[row.eps_at] += d * g[op.n_in + 2];
      for (int k = 0; k < 2; ++k)
        if (op.motor_at[k] != std::size_t(-1)) av[row.theta_at + op.motor_at[k]] += d * g[op.n_in + 3 + std::size_t(k)];
    }
  }
  if (!op.acc.empty()) add_at(op.acc.v, op.acc.i, d);
  if (op.gz && op.z.needs_grad()) {
    Node* zn = op.z.node();
    const std::size_t nz = zn->size();
    if (zn->claim_adjoint())
      for (std::size_t k = 0; k < nz; ++k) zn->adj[k] = d * op.gz[k];
    else
      for (std::size_t k = 0; k < nz; ++k) zn->adj[k] += d * op.gz[k];
  }
}

Node* make(Var V, std::span<const RowRef> rows, std::span<const Var> net_out, std::size_t n_in, bool lapse, Elem acc,
           Var z, bool with_z, Op*& op, std::size_t sa_at, std::size_t off_at) {
  Tape& tape = Tape::current();
  bool grad = V.needs_grad() || (!acc.empty() && acc.v.needs_grad()) || (with_z && z.needs_grad());
  for (const Var& x : net_out) grad = grad || (x.node() && x.needs_grad());
  Node* n = tape.make_node(1, 1, grad, &backward);
  const std::size_t nr = rows.size(), nz = with_z ? z.size() : 0, nn = net_out.empty() ? 0 : nr;
  auto* mem = static_cast<std::byte*>(
      tape.allocate(sizeof(Op) + nn * sizeof(Var) + (nr * (n_in + row_extra) + nz) * sizeof(double)));
  Var* outs = nn ? reinterpret_cast<Var*>(mem + sizeof(Op)) : nullptr;
  if (nn) std::memcpy(static_cast<void*>(outs), net_out.data(), nn * sizeof(Var));
  double* g = reinterpret_cast<double*>(mem + sizeof(Op) + nn * sizeof(Var));
  double* gz = nz ? g + nr * (n_in + row_extra) : nullptr;
  if (gz) std::fill(gz, gz + nz, 0.0);
  op = ::new (mem) Op{V, z, acc, gz, nr, n_in, lapse, rows.data(), outs, g, {sa_at, off_at}};
  n->data = op;
  return n;
}

} // namespace lik

} // namespace bactor::detail
