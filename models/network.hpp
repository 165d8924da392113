// SPDX-License-Identifier: MIT
// The action network of docs/network.md (the amortized actor): theta -> fixed input scaling ->
// MLP with swish hidden layers -> (x0, x1, x2) -> the output head:
//   softplus (docs/network.md): a(m, theta) = softplus(softplus(x0) m^sigmoid(x1) + x2)
//   power:                    a(m, theta) = exp(x0) m^sigmoid(x1)              (x2 unused)
//   posterior:                a(m, theta) = exp(x0 + mu_post(m, theta))        (x1, x2 unused)
// The power head has exactly the shape of the optimal action of every cost that is homogeneous
// in (s, r) (QuadraticCost, QuadraticCostQuadraticEffort, AbsoluteCost, AsymmetricQuadratic):
// the posterior of s given m is log-normal with a location linear in log m and a scale free of
// m, so the optimum is c(theta) exp(mu_post). The softplus head cannot represent k m^w exactly
// for actions of order 1 (its best fit errs by ~0.3% rms in log a on the reference study's
// parameters), which biases network posteriors; it remains the choice for the other costs.
// The posterior head goes one step further for those costs: the exponent w = sigma_post^2 /
// sigma^2 and the prior term w_0 log mu_0 of mu_post are known in closed form, and the rest,
// log c, depends on theta only through sigma_post, sigma_r and the cost parameters (the
// posterior of s / exp(mu_post) is LogNormal(0, sigma_post)). So the MLP's inputs are those
// features, not theta, and it learns a function of 2 + (cost parameters) variables instead of
// 4 + (cost parameters): about 10x smaller errors for the same training. forward() returns the
// head in power form, (x0 + w_0 log mu_0, logit w, 0), with logit w = 2 log(sigma_0 / sigma)
// exactly, so that action() and the power-law inference paths treat both heads alike;
// backward() takes adjoints of that power form and returns them with respect to theta.
// Weights are trained in float (models/train.hpp) and evaluated here in double precision, with
// the same layer kernels (engine/dense_kernels.hpp) and head templates (models/network_heads.hpp)
// as the trainer; backward() differentiates the heads' closed-form parts in forward mode.
// Files are .safetensors (models/safetensors.hpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <bactor/engine/aligned.hpp>

namespace bactor {

struct CostInfo;

enum class NetworkHead { softplus, power, posterior, mupost };

/// A network file's metadata: key -> text (JSON text for structured entries), as stored in
/// the safetensors header's "__metadata__".
using NetworkMetadata = std::map<std::string, std::string>;
/// "softplus" | "power" | "posterior" | "mupost"; throws std::invalid_argument otherwise.
NetworkHead parse_network_head(const std::string& name);
const char* to_string(NetworkHead head);
/// The formula recorded in the file's metadata.
const char* head_formula(NetworkHead head);
/// True for the heads whose action is a power law in m, log a = x0 + sigmoid(x1) log m (after
/// forward(): power and posterior).
inline bool power_law_head(NetworkHead head) { return head == NetworkHead::power || head == NetworkHead::posterior; }
/// True for the head whose MLP sees the measurement (through mu_post): mupost, a(m, theta) =
/// exp(mu_post + g(sigma_post, sigma_r, cost parameters, mu_post)). Its forward pass needs m
/// (forward(theta, m, ...)); one pass gives the action at one measurement.
inline bool measurement_head(NetworkHead head) { return head == NetworkHead::mupost; }

/// Number of MLP inputs for a head given the size of theta: n_theta, 2 + (n_theta - 4) for
/// the posterior head, 3 + (n_theta - 4) for the mupost head, or 3 (4 with sigma_a) for the
/// mupost head of a cost with a length scale (`cost` given and cost->log_scale set).
std::size_t head_input_count(NetworkHead head, std::size_t n_theta, const CostInfo* cost = nullptr);
/// The MLP's input features before scaling: theta itself, or for the posterior head
/// (sigma_post, sigma_r, cost parameters...) with sigma_post = sigma sigma_0 / sqrt(sigma^2 + sigma_0^2),
/// for the mupost head (sigma_post, sigma_r, cost parameters..., mu_post(m)), or (sigma_post,
/// sigma_r, mu_post(m) - log kappa) for a cost with a length scale kappa (`cost` given and
/// cost->log_scale set; with a motor model's sigma_a, sigma_a / kappa before the last one). m is only read by the mupost head (which throws std::invalid_argument
/// when it is not finite and positive).
/// `linear`: the mupost head of a network trained under gaussian perception (ActionNetwork::linear()):
/// mu_post = w m + (1 - w) mu_0 in linear space (m of any sign), and for a cost with a length scale
/// (sigma_post / kappa, sigma_r, sigma_a / kappa, mu_post / kappa).
void head_features(NetworkHead head, std::span<const double> theta, std::span<double> features, double m = NAN,
                   const CostInfo* cost = nullptr, bool linear = false);

/// Fixed affine input map z = (t(x) − shift) / scale with t = log when `log` is set.
struct InputScaling {
  bool log = false;
  double shift = 0.0, scale = 1.0;
};

/// Architecture and weights in the flat layout shared with the trainer: for each layer l
/// (sizes[l] -> sizes[l+1]), the weight matrix W_l (out x in, row-major), then the bias b_l.
struct MlpLayout {
  std::vector<int> sizes;  // n_inputs, hidden..., 3
  std::size_t n_layers() const { return sizes.size() - 1; }
  std::size_t weight_offset(std::size_t l) const;
  std::size_t bias_offset(std::size_t l) const { return weight_offset(l) + std::size_t(sizes[l + 1]) * std::size_t(sizes[l]); }
  std::size_t n_params() const { return weight_offset(n_layers()); }
};

class ActionNetwork {
public:
  /// Activations for one theta in double precision; reused across calls (no allocation
  /// after the first use).
  struct Workspace {
    // Per layer, padded to a multiple of the SIMD width: pre-activations, sigmoid(pre),
    // activations (act[0] = scaled input) and backward scratch.
    std::vector<std::vector<double, AlignedAllocator<double>>> pre, sig, act, grad;
    std::vector<double> theta;     // the input of the last forward()
    std::vector<double> features;  // head_features(theta)
    double m = NAN;                // the measurement of the last forward() (mupost head)
    double dg_dmu = 0;             // mupost head: dx0/dmu_post of the MLP, set by backward()
  };

  ActionNetwork() = default;
  /// A network from its parts. `params` in the MlpLayout order; `scaling` one per input.
  ActionNetwork(std::string cost_name, std::vector<std::string> param_names, std::vector<int> sizes,
                std::vector<float> params, std::vector<InputScaling> scaling, NetworkMetadata metadata,
                NetworkHead head = NetworkHead::softplus);

  static ActionNetwork load(const std::string& path);  // .safetensors; throws
      // std::invalid_argument naming the file and what is wrong (truncated, bad header, ...)
  void save(const std::string& path) const;            // temp file + rename

  const std::string& cost_name() const { return cost_name_; }
  NetworkHead head() const { return head_; }
  const std::vector<std::string>& param_names() const { return param_names_; } // theta order
  std::size_t n_inputs() const { return param_names_.size(); }        // size of theta
  std::size_t n_features() const { return std::size_t(layout_.sizes.front()); }  // MLP inputs
  const NetworkMetadata& metadata() const { return metadata_; }
  NetworkMetadata& metadata() { return metadata_; }
  const MlpLayout& layout() const { return layout_; }
  std::span<const float> parameters() const { return params_; }
  const std::vector<InputScaling>& scaling() const { return scaling_; }  // one per feature

  /// x = head outputs at theta (double precision; the posterior head's in power form). Throws
  /// std::invalid_argument for the mupost head, whose outputs depend on m (use the overload).
  void forward(std::span<const double> theta, std::span<double, 3> x, Workspace& ws) const;
  /// The head outputs at (theta, m): for the mupost head x = (log a(m, theta), 0, 0) with
  /// log a = mu_post + g; for the other heads the same as forward(theta, x, ws) (m unused).
  void forward(std::span<const double> theta, double m, std::span<double, 3> x, Workspace& ws) const;
  /// dtheta = (dL/dx)^T dx/dtheta, using the activations of the last forward() on ws. For the
  /// mupost head also d log a/d log m = w_m (1 + dg/dmu_post) in *dla_dlogm when given.
  void backward(std::span<const double, 3> dx, std::span<double> dtheta, Workspace& ws,
                double* dla_dlogm = nullptr) const;
  /// a(m) from head outputs (x0, x1, x2) (mupost head: exp(x0), x from forward(theta, m, ...)).
  static double action(NetworkHead head, std::span<const double, 3> x, double m);
  double action(std::span<const double, 3> x, double m) const { return linear_ ? x[0] : action(head_, x, m); }
  /// True for a network trained under gaussian perception (its metadata "perception" is
  /// "gaussian" at construction): the mupost head in linear coordinates, a = mu_post + g
  /// (docs/network.md), forward(theta, m, ...) giving x = (a, 0, 0) for m of any sign and
  /// backward() da/dm in place of d log a/d log m.
  bool linear() const { return linear_; }
  /// a(m, theta) in one call (convenience; allocates a workspace).
  double action(std::span<const double> theta, double m) const;

private:
  std::string cost_name_;
  const CostInfo* cost_ = nullptr;  // the registered family of cost_name_, when there is one
  NetworkHead head_ = NetworkHead::softplus;
  bool linear_ = false;  // gaussian perception (metadata "perception")
  std::vector<std::string> param_names_;
  MlpLayout layout_;
  std::vector<float> params_;
  std::vector<InputScaling> scaling_;
  NetworkMetadata metadata_;
  // Copies of the weights, zero-padded to the SIMD width: W^T (in x out_p) for the forward
  // pass and W (out x in_p) for the backward pass, kept in float (the weights are floats, so
  // widening on load is exact; both copies then fit in L1), and the biases (out_p) in double.
  using dvec = std::vector<double, AlignedAllocator<double>>;
  using fvec = std::vector<float, AlignedAllocator<float>>;
  std::vector<fvec> wt_, w_;
  std::vector<dvec> b_;
  std::vector<std::size_t> padded_;  // padded size of every layer
};

/// Numerically stable softplus log(1 + e^x) and its derivative sigmoid(x).
inline double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
inline double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

} // namespace bactor
