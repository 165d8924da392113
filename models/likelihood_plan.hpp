// SPDX-License-Identifier: MIT
// The one dispatch from a fit's runtime choices (action source, latent mode, lapses) to the
// composed likelihood node of models/likelihood.hpp, shared by ActorModel (rows = conditions)
// and HierarchicalModel (rows = subjects, or subject × condition). The choice is made once per
// log-density call, outside every trial loop. Private header.
#pragma once

#include "models/likelihood.hpp"
#include "models/perception_linear.hpp"

#include <bactor/models/inference.hpp>

#include <memory>
#include <span>
#include <vector>

namespace bactor::detail {

/// Where the action comes from.
enum class SourceKind { closed_form, power_net, softplus_net, mupost, exact, linear_closed_form };
const char* to_string(SourceKind kind);

/// A fit's likelihood: its source and form, their constants, and each row's trials.
struct LikelihoodPlan {
  SourceKind source = SourceKind::closed_form;
  ClosedForm closed_form = ClosedForm::quadratic;
  const CostInfo* cost = nullptr;
  std::shared_ptr<const ActionNetwork> net;
  ExactActionOptions exact_opt;
  bool sampled = false, lapse = false;
  double log_width = 0;  // lapses: log W of the contaminant, W = log hi - log lo (gaussian motor: (hi - lo) / S)
  MotorSpec motor;       // not plain(): the motor forms (MotorForm, SampledMotorForm; with lapses LapseForm<...>)
  PerceptionModel perception = PerceptionModel::lognormal;  // gaussian: LinearClosedFormSource or ExactSource x LinearForm (or its LapseForm)
  LinearAction linear_action = LinearAction::centred;
  GaussHermiteSet rules;
  std::vector<RowTrials> trials;                // one per row
  std::vector<ActionNetwork::Workspace> ws;     // one per row (network nodes, mupost tables)
  std::vector<double> xbuf;                     // value paths: each row's network outputs

  /// Resolves the source from the cost, the network (checked against the cost: ArgumentError
  /// "network" naming the mismatch) and `exact` (ArgumentError "exact_action" with a network or
  /// a cost with too many parameters). Rows are added to `trials` by the caller, then finish().
  /// With a motor model other than the plain log-normal one: ArgumentError "motor" with
  /// no source of the action (no closed form, no network, no exact action), and with a network
  /// trained for another motor model. Gaussian perception: the linear closed form (or shift
  /// solve), or with `exact` the exact action of any cost (models/exact_linear.hpp), with gaussian
  /// motor noise only, lapses allowed (ArgumentError "perception" otherwise: another motor model,
  /// a network, sampled latents, or without `exact` a cost without an affine optimal action).
  LikelihoodPlan(const CostInfo& cost, std::shared_ptr<const ActionNetwork> net, bool exact, LatentMode latent,
                 bool lapse, int quadrature_nodes, const MotorSpec& motor = {},
                 PerceptionModel perception = PerceptionModel::lognormal);
  /// Pads the rows' trials and sizes the workspaces; call once the rows are filled.
  void finish();
  /// Theta entries per row: theta_size(cost, motor).
  std::size_t n_theta() const;
  /// Theta entries the action reads (the network's inputs): action_theta_size(cost, motor).
  std::size_t n_action() const;
  bool is_network() const { return source == SourceKind::power_net || source == SourceKind::softplus_net; }
  /// The row's head at theta (value paths): power-law heads only (closed form, power network).
  PowerHead power_head(const double* theta);
};

/// acc + the log-likelihood of every row as one node (with a network node per row before it for
/// the network sources). `rows` must outlive the node.
Var add_likelihood(LikelihoodPlan& plan, Var V, std::span<const RowRef> rows, Elem acc, Var z = {});

/// Each trial's log-density, value only: out[r] (one pointer per row) gets row r's trials.
/// V: the constrained values (rows' theta and lapse probabilities); z: latents (sampled).
void likelihood_values(LikelihoodPlan& plan, const double* V, std::span<const RowRef> rows, const double* z,
                       std::span<double* const> out);

/// Visits the plan's (source, form) pair as concrete types: f(source, form).
template <class F>
decltype(auto) visit_likelihood(LikelihoodPlan& p, F&& f) {
  const std::size_t nt = theta_size(*p.cost);
  if (p.perception == PerceptionModel::gaussian) {  // the closed form or the exact action, m integrated out
    const LinearForm form{nt, p.motor.offset ? nt + 1 : LinearForm::none, &p.rules};
    auto with_lapse = [&](const auto& src) -> decltype(auto) {
      if (p.lapse) return f(src, LapseForm<LinearForm>{form, p.log_width});
      return f(src, form);
    };
    if (p.source == SourceKind::exact)
      return with_lapse(ExactSource{p.cost, &p.exact_opt, MotorModel::gaussian, PerceptionModel::gaussian});
    if (p.source == SourceKind::mupost)  // a network trained under gaussian perception (ActionNetwork::linear)
      return with_lapse(MupostSource{p.net.get(), &p.rules, p.ws.data()});
    return with_lapse(LinearClosedFormSource{p.linear_action, p.n_theta(), nt, p.cost});
  }
  auto with_form = [&](const auto& src) -> decltype(auto) {
    const MarginalForm marginal{&p.rules};
    if (!p.motor.plain()) {
      const std::size_t sa = p.motor.has_sigma_a() ? nt : MotorForm<LognormalMotor>::none;
      const std::size_t off = p.motor.offset ? nt + (p.motor.has_sigma_a() ? 1 : 0) : MotorForm<LognormalMotor>::none;
      auto with_lapse = [&](auto motor_form) -> decltype(auto) {
        using MF = decltype(motor_form);
        using M = typename MF::Motor;
        if (p.sampled) {
          const SampledMotorForm<M> sampled{motor_form};
          if (p.lapse) return f(src, LapseForm<SampledMotorForm<M>>{sampled, p.log_width});
          return f(src, sampled);
        }
        if (p.lapse) return f(src, LapseForm<MF>{motor_form, p.log_width});
        return f(src, motor_form);
      };
      switch (p.motor.model) {
      case MotorModel::generalized: return with_lapse(MotorForm<GeneralizedMotor>{&p.rules, sa, off});
      case MotorModel::gaussian: return with_lapse(MotorForm<GaussianMotor>{&p.rules, sa, off});
      case MotorModel::lognormal: break;
      }
      return with_lapse(MotorForm<LognormalMotor>{&p.rules, sa, off});
    }
    if (p.sampled) {
      if (p.lapse) return f(src, LapseForm<SampledForm>{SampledForm{}, p.log_width});
      return f(src, SampledForm{});
    }
    if (p.lapse) return f(src, LapseForm<MarginalForm>{marginal, p.log_width});
    return f(src, marginal);
  };
  switch (p.source) {
  case SourceKind::closed_form: return with_form(ClosedFormSource{p.closed_form, p.n_theta()});
  case SourceKind::power_net: return with_form(PowerNetSource{});
  case SourceKind::softplus_net: return with_form(SoftplusNetSource{});
  case SourceKind::mupost: return with_form(MupostSource{p.net.get(), &p.rules, p.ws.data()});
  case SourceKind::exact:
  case SourceKind::linear_closed_form: break;
  }
  return with_form(ExactSource{p.cost, &p.exact_opt, p.motor.model});
}

} // namespace bactor::detail
