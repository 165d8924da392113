// SPDX-License-Identifier: MIT
#include "models/likelihood_plan.hpp"

#include <bactor/engine/errors.hpp>
#include <bactor/models/network_node.hpp>

#include <array>
#include <iterator>
#include <new>
#include <string>

namespace bactor::detail {

const char* to_string(SourceKind kind) {
  switch (kind) {
  case SourceKind::closed_form: return "closed-form";
  case SourceKind::power_net: return "network (power-law head)";
  case SourceKind::softplus_net: return "network (softplus head)";
  case SourceKind::mupost: return "network (mupost head)";
  case SourceKind::exact: return "exact action";
  case SourceKind::linear_closed_form: return "closed-form (gaussian perception)";
  }
  return "?";
}

namespace {
/// A network under gaussian perception for a cost whose action has a near-kink (AbsoluteCostQuadraticEffort):
/// its counts per sigma band (models/marginal.hpp's bands, sigma in units of S), from the table of
/// tests/models/test_network_linear.cpp ("linear network likelihood: node-count table"; docs/network.md):
/// the worst trial's log-likelihood within 5e-7 of 200 nodes up to sigma 0.5 with the default
/// network, whose knee is sharper than the log-normal networks' (the log-normal kink counts left
/// up to 3.5e-5 at sigma 0.38 and 1.6e-4 at 0.5).
constexpr int linear_kink_quadrature_node_counts[] = {13, 61, 81, 81, 101, 121, 161, 161, 200};
static_assert(std::size(linear_kink_quadrature_node_counts) == std::size(quadrature_node_counts));

/// The quadrature node counts per sigma band for a source (models/marginal.hpp).
const int* node_counts(const CostInfo& cost, const ActionNetwork* net) {
  if (!net || !measurement_head(net->head())) return quadrature_node_counts;
  if (net->linear() && cost.action_kink) return linear_kink_quadrature_node_counts;
  return cost.action_kink ? mupost_kink_quadrature_node_counts : mupost_quadrature_node_counts;
}

void check_network(const CostInfo& cost, const ActionNetwork& net, const MotorSpec& motor) {
  if (net.cost_name() != cost.name)
    throw ArgumentError("network", "was trained for cost '" + net.cost_name() + "', not '" + cost.name + "'");
  if (network_motor(net) != motor.model)
    throw ArgumentError("network", std::string("was trained for ") + to_string(network_motor(net)) +
                                       " motor noise, not " + to_string(motor.model) + " (train one with --motor " +
                                       to_string(motor.model) + ", or fit with --motor " + to_string(network_motor(net)) + ")");
  const auto tnames = theta_names(cost, MotorSpec{motor.model, false});
  if (net.param_names() != tnames) {
    std::string got;
    for (const auto& n : net.param_names()) got += (got.empty() ? "" : ",") + n;
    throw ArgumentError("network", "parameter order (" + got + ") does not match cost '" + cost.name + "'");
  }
}
/// The exact action's partials are one central difference per cost parameter, stored per
/// parameter up to exact_max_cost_params (models/exact_action.hpp).
void check_exact_params(const CostInfo& cost) {
  if (cost.params.size() > exact_max_cost_params)
    throw ArgumentError("exact_action", "supports at most " + std::to_string(exact_max_cost_params) +
                                            " cost parameters; cost " + cost.name + " has " +
                                            std::to_string(cost.params.size()) +
                                            " (fit it with a network trained for it instead)");
}
} // namespace

LikelihoodPlan::LikelihoodPlan(const CostInfo& c, std::shared_ptr<const ActionNetwork> network, bool exact,
                               LatentMode latent, bool lap, int quadrature_nodes, const MotorSpec& m,
                               PerceptionModel perc)
    : cost(&c), net(std::move(network)), sampled(latent == LatentMode::sampled), lapse(lap), motor(m), perception(perc),
      rules(quadrature_nodes, node_counts(c, net.get())) {
  if (perception == PerceptionModel::gaussian) {
    // a may be <= 0 in linear space: only motor noise defined there (gaussian) applies.
    const std::string what = "gaussian: ";
    if (motor.model != MotorModel::gaussian)
      throw ArgumentError("perception", what + "needs gaussian motor noise (--motor gaussian): " + to_string(motor.model) +
                                            " motor noise needs a positive action, which linear space does not give");
    if (sampled) throw ArgumentError("perception", what + "needs the marginal latent mode (the marginal is exact)");
    if (net) {  // the linear mupost head (MupostSource), m integrated by LinearForm's quadrature
      if (exact) throw ArgumentError("exact_action", "excludes a network (the action comes from the ground-truth solver)");
      check_network(c, *net, motor);
      if (!net->linear())
        throw ArgumentError("network", "was trained for " + std::string(to_string(network_perception(*net))) +
                                           " perception, not gaussian (train one with --perception gaussian)");
      source = SourceKind::mupost;
      return;
    }
    if (exact) {  // any cost: a*(m) solved numerically, m integrated by quadrature
      check_exact_params(c);
      source = SourceKind::exact;
      return;
    }
    linear_action = linear_action_of(c);
    source = SourceKind::linear_closed_form;
    return;
  }
  if (!motor.plain()) {
    if (!net && !exact && !has_closed_form(c, motor))
      throw ArgumentError("motor", "cost " + c.name + " has no closed-form action under " + to_string(motor.model) +
                                       " motor noise: give a network trained with --motor " + to_string(motor.model) + " or use the exact action");
  }
  if (exact) {
    if (net) throw ArgumentError("exact_action", "excludes a network (the action comes from the ground-truth solver)");
    check_exact_params(c);
    source = SourceKind::exact;
  } else if (net) {
    check_network(c, *net, motor);
    if (net->linear())
      throw ArgumentError("network", std::string("was trained for gaussian perception, not ") + to_string(perception) +
                                         " (fit with --perception gaussian)");
    source = measurement_head(net->head()) ? SourceKind::mupost
             : power_law_head(net->head()) ? SourceKind::power_net
                                           : SourceKind::softplus_net;
  } else {
    closed_form = closed_form_of(c);
    source = SourceKind::closed_form;
  }
}

std::size_t LikelihoodPlan::n_theta() const { return theta_size(*cost, motor); }
std::size_t LikelihoodPlan::n_action() const { return action_theta_size(*cost, motor); }

void LikelihoodPlan::finish() {
  for (RowTrials& t : trials) t.finish();
  // The log-normal model with an offset under a power-law head: its response sums tabulated in
  // the offset, once per row (O(1) per gradient after; motor_kernels.hpp).
  const bool power_head = source == SourceKind::closed_form || source == SourceKind::power_net;
  if (perception == PerceptionModel::lognormal && motor.model == MotorModel::lognormal && motor.offset && power_head && !lapse)
    for (RowTrials& t : trials)
      if (t.size()) t.offset_sums = std::make_shared<const OffsetSums>(t.px.size(), t.px.data(), t.pr.data(), t.pw.data());
  ws.resize(trials.size());
  xbuf.assign(3 * trials.size(), 0.0);
}

PowerHead LikelihoodPlan::power_head(const double* theta) {
  const std::size_t nt = n_action();
  if (source == SourceKind::closed_form) return closed_form_head(closed_form, {theta, nt});
  BACTOR_ASSERT(source == SourceKind::power_net && !ws.empty());
  std::array<double, 3> x{};
  net->forward({theta, nt}, std::span<double, 3>(x), ws[0]);
  return PowerHead{x[0], sigmoid(x[1])};
}

Var add_likelihood(LikelihoodPlan& plan, Var V, std::span<const RowRef> rows, Elem acc, Var z) {
  std::span<const Var> net_out;
  if (plan.is_network()) {  // a network node per row with trials, before the likelihood node
    auto* outs = static_cast<Var*>(Tape::current().allocate(rows.size() * sizeof(Var)));
    for (std::size_t r = 0; r < rows.size(); ++r)
      ::new (&outs[r]) Var(rows[r].trials->size() > 0 ? network_outputs(*plan.net, V, rows[r].theta_at, plan.ws[r]) : Var());
    net_out = {outs, rows.size()};
  }
  return visit_likelihood(plan, [&](const auto& src, const auto& form) {
    return likelihood_node(src, form, V, rows, net_out, acc, z);
  });
}

void likelihood_values(LikelihoodPlan& plan, const double* V, std::span<const RowRef> rows, const double* z,
                       std::span<double* const> out) {
  const std::size_t nt = plan.n_action();
  std::vector<const double*> in(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const double* theta = V + rows[r].theta_at;
    if (plan.is_network()) {
      double* x = &plan.xbuf[3 * r];
      plan.net->forward({theta, nt}, std::span<double, 3>(x, 3), plan.ws[r]);
      in[r] = x;
    } else {
      in[r] = theta;
    }
  }
  visit_likelihood(plan, [&](const auto& src, const auto& form) {
    likelihood_trials(src, form, V, rows, std::span<const double* const>(in), z, out);
  });
}

} // namespace bactor::detail
