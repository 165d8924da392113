// SPDX-License-Identifier: MIT
#include "cli/svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace bactor::cli::svg {

namespace {

/// Coordinates with one decimal (pixels), no trailing ".0".
std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  if (s == "-0") s = "0";
  return s;
}

std::string label_number(double v, int decimals) {
  if (std::fabs(v) < 1e-12) v = 0;
  char buf[32];
  if (std::fabs(v) >= 1e5 || (v != 0 && std::fabs(v) < 1e-4)) std::snprintf(buf, sizeof buf, "%.3g", v);
  else std::snprintf(buf, sizeof buf, "%.*f", std::max(0, decimals), v);
  return buf;
}

double nice_step(double range, int target) {
  const double raw = range / std::max(1, target);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / p;
  const double m = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return m * p;
}

bool finite(double v) { return std::isfinite(v); }

} // namespace

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

Ticks nice_ticks(double lo, double hi, int target) {
  Ticks t;
  if (!(hi > lo) || !finite(lo) || !finite(hi)) {
    t.at = {lo};
    t.labels = {label_number(lo, 2)};
    return t;
  }
  const double step = nice_step(hi - lo, target);
  const int decimals = int(std::max(0.0, -std::floor(std::log10(step) + 1e-9)));
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    t.at.push_back(v);
    t.labels.push_back(label_number(v, decimals));
  }
  return t;
}

Ticks log_ticks(double lo, double hi) {
  Ticks t;
  if (!(lo > 0) || !(hi > lo)) return nice_ticks(lo, hi);
  const int e0 = int(std::floor(std::log10(lo))), e1 = int(std::ceil(std::log10(hi)));
  const double decades = std::log10(hi / lo);
  const std::vector<double> mult = decades < 1.2 ? std::vector<double>{1, 2, 3, 5}
                                   : decades < 2 ? std::vector<double>{1, 2, 5}
                                                 : std::vector<double>{1};
  for (int e = e0; e <= e1; ++e)
    for (double m : mult) {
      const double v = m * std::pow(10.0, e);
      if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
      t.at.push_back(v);
      t.labels.push_back(label_number(v, std::max(0, -e)));
    }
  if (t.at.size() < 2) return nice_ticks(lo, hi);
  return t;
}

std::string colour(std::size_t i) {
  static const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return palette[i % 10];
}

Plot::Plot(double width, double height) : w_(width), h_(height) {}

Plot& Plot::line(const std::vector<double>& x, const std::vector<double>& y, const Style& s, const std::string& label) {
  series_.push_back({Series::Kind::line, x, y, {}, s, label, ""});
  return *this;
}
Plot& Plot::points(const std::vector<double>& x, const std::vector<double>& y, const Style& s, const std::string& label) {
  series_.push_back({Series::Kind::points, x, y, {}, s, label, ""});
  return *this;
}
Plot& Plot::band(const std::vector<double>& x, const std::vector<double>& lo, const std::vector<double>& hi, const Style& s,
                 const std::string& label) {
  series_.push_back({Series::Kind::band, x, lo, hi, s, label, ""});
  return *this;
}
Plot& Plot::errorbars(const std::vector<double>& at, const std::vector<double>& lo, const std::vector<double>& hi,
                      const Style& s, bool horizontal, const std::string& label) {
  series_.push_back({horizontal ? Series::Kind::errx : Series::Kind::erry, at, lo, hi, s, label, ""});
  return *this;
}
Plot& Plot::bars(const std::vector<double>& edges, const std::vector<double>& counts, const Style& s, const std::string& label) {
  series_.push_back({Series::Kind::bars, edges, counts, {}, s, label, ""});
  return *this;
}
Plot& Plot::steps(const std::vector<double>& edges, const std::vector<double>& counts, const Style& s, const std::string& label) {
  series_.push_back({Series::Kind::steps, edges, counts, {}, s, label, ""});
  return *this;
}
Plot& Plot::hline(double y, const Style& s, const std::string& label) {
  series_.push_back({Series::Kind::hline, {}, {y}, {}, s, label, ""});
  return *this;
}
Plot& Plot::vline(double x, const Style& s, const std::string& label) {
  series_.push_back({Series::Kind::vline, {x}, {}, {}, s, label, ""});
  return *this;
}
Plot& Plot::text(double x, double y, const std::string& t, const std::string& anchor) {
  series_.push_back({Series::Kind::text, {x}, {y}, {}, Style{}, t, anchor});
  return *this;
}

void Plot::ranges(double& x0, double& x1, double& y0, double& y1) const {
  constexpr double inf = std::numeric_limits<double>::infinity();
  x0 = inf, x1 = -inf, y0 = inf, y1 = -inf;
  auto addx = [&](double v) {
    if (finite(v) && (!xlog_ || v > 0)) x0 = std::min(x0, v), x1 = std::max(x1, v);
  };
  auto addy = [&](double v) {
    if (finite(v)) y0 = std::min(y0, v), y1 = std::max(y1, v);
  };
  for (const auto& s : series_) {
    switch (s.kind) {
      case Series::Kind::line:
      case Series::Kind::points:
        for (std::size_t i = 0; i < s.a.size(); ++i)
          if (finite(s.a[i]) && finite(s.b[i])) addx(s.a[i]), addy(s.b[i]);
        break;
      case Series::Kind::band:
      case Series::Kind::erry:
        for (double v : s.a) addx(v);
        for (double v : s.b) addy(v);
        for (double v : s.c) addy(v);
        break;
      case Series::Kind::errx:
        for (double v : s.a) addy(v);
        for (double v : s.b) addx(v);
        for (double v : s.c) addx(v);
        break;
      case Series::Kind::bars:
      case Series::Kind::steps:
        for (double v : s.a) addx(v);
        for (double v : s.b) addy(v);
        break;
      case Series::Kind::hline: addy(s.b[0]); break;
      case Series::Kind::vline: addx(s.a[0]); break;
      case Series::Kind::text: break;
    }
  }
  if (yzero_) y0 = std::min(y0, 0.0), y1 = std::max(y1, 0.0);
  if (!(x1 >= x0)) x0 = xlog_ ? 1 : 0, x1 = xlog_ ? 10 : 1;
  if (!(y1 >= y0)) y0 = 0, y1 = 1;
  if (xlog_) {
    const double l0 = std::log10(x0), l1 = std::log10(x1), pad = l1 > l0 ? 0.04 * (l1 - l0) : 0.1;
    x0 = std::pow(10.0, l0 - pad), x1 = std::pow(10.0, l1 + pad);
  } else {
    const double pad = x1 > x0 ? 0.04 * (x1 - x0) : std::max(std::fabs(x0) * 0.1, 0.5);
    const bool bins = std::any_of(series_.begin(), series_.end(), [](const Series& s) {
      return s.kind == Series::Kind::bars || s.kind == Series::Kind::steps;
    });
    if (!bins || x1 == x0) x0 -= pad, x1 += pad;
  }
  const double pad = y1 > y0 ? 0.05 * (y1 - y0) : std::max(std::fabs(y0) * 0.1, 0.5);
  if (!(yzero_ && y0 == 0)) y0 -= pad;
  y1 += pad;
  if (xfixed_) x0 = xlo_, x1 = xhi_;
  if (yfixed_) y0 = ylo_, y1 = yhi_;
}

std::string Plot::render_group(double ox, double oy) const {
  double x0, x1, y0, y1;
  ranges(x0, x1, y0, y1);
  // Legend entries: labelled series (not text); an outside legend takes its width from the frame.
  std::vector<const Series*> entries;
  for (const auto& s : series_)
    if (!s.label.empty() && s.kind != Series::Kind::text) entries.push_back(&s);
  std::size_t longest = 0;
  for (const auto* e : entries) longest = std::max(longest, e->label.size());
  const double lw = 32 + 5.7 * double(longest), lh = 6 + 15 * double(entries.size());
  const bool outside = legend_ == Legend::outside && !entries.empty();
  const double L = ml_, R = w_ - (outside ? lw + 12 : mr_), T = mt_, B = h_ - mb_;
  const double X0 = xlog_ ? std::log10(x0) : x0, X1 = xlog_ ? std::log10(x1) : x1;
  auto sx = [&](double x) { return L + ((xlog_ ? std::log10(x) : x) - X0) / (X1 - X0) * (R - L); };
  auto sy = [&](double y) { return B - (y - y0) / (y1 - y0) * (B - T); };
  auto ok = [&](double x, double y) { return finite(x) && finite(y) && (!xlog_ || x > 0); };
  std::string o = "<g transform=\"translate(" + px(ox) + "," + px(oy) + ")\">\n";
  // Frame, grid and ticks.
  if (frame_)
    o += "<rect x=\"" + px(L) + "\" y=\"" + px(T) + "\" width=\"" + px(R - L) + "\" height=\"" + px(B - T) +
         "\" fill=\"#fff\" stroke=\"#999\"/>\n";
  if (xticks_) {
    const Ticks t = xlog_ ? log_ticks(x0, x1) : nice_ticks(x0, x1, std::max(3, int((R - L) / 70)));
    std::string grid, marks;
    for (std::size_t i = 0; i < t.at.size(); ++i) {
      const double x = sx(t.at[i]);
      if (x < L - 0.5 || x > R + 0.5) continue;
      grid += "M" + px(x) + " " + px(T) + "V" + px(B);
      marks += "M" + px(x) + " " + px(B) + "v4";
      o += "<text x=\"" + px(x) + "\" y=\"" + px(B + 15) + "\" text-anchor=\"middle\" class=\"tick\">" + escape(t.labels[i]) + "</text>\n";
    }
    // Grid lines and tick marks as one path each.
    if (!grid.empty()) o += "<path stroke=\"#eee\" d=\"" + grid + "\"/><path stroke=\"#666\" d=\"" + marks + "\"/>\n";
  }
  if (yticks_) {
    const Ticks t = nice_ticks(y0, y1, std::max(3, int((B - T) / 45)));
    std::string grid, marks;
    for (std::size_t i = 0; i < t.at.size(); ++i) {
      const double y = sy(t.at[i]);
      if (y < T - 0.5 || y > B + 0.5) continue;
      grid += "M" + px(L) + " " + px(y) + "H" + px(R);
      marks += "M" + px(L - 4) + " " + px(y) + "h4";
      o += "<text x=\"" + px(L - 6) + "\" y=\"" + px(y + 4) + "\" text-anchor=\"end\" class=\"tick\">" + escape(t.labels[i]) + "</text>\n";
    }
    if (!grid.empty()) o += "<path stroke=\"#eee\" d=\"" + grid + "\"/><path stroke=\"#666\" d=\"" + marks + "\"/>\n";
  }
  auto opacity = [](double v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.2g", v);
    return std::string(buf);
  };
  auto stroke_attr = [&](const Style& s) {
    std::string a = " stroke=\"" + s.colour + "\" stroke-width=\"" + px(s.width) + "\"";
    if (s.opacity < 1) a += " stroke-opacity=\"" + opacity(s.opacity) + "\"";
    if (!s.dash.empty()) a += " stroke-dasharray=\"" + s.dash + "\"";
    return a;
  };
  for (const auto& s : series_) {
    const Style& st = s.style;
    switch (s.kind) {
      case Series::Kind::line: {
        std::string pts;
        auto flush = [&] {
          if (!pts.empty()) o += "<polyline fill=\"none\"" + stroke_attr(st) + " points=\"" + pts + "\"/>\n";
          pts.clear();
        };
        for (std::size_t i = 0; i < s.a.size() && i < s.b.size(); ++i) {
          if (!ok(s.a[i], s.b[i])) {
            flush();
            continue;
          }
          pts += (pts.empty() ? "" : " ") + px(sx(s.a[i])) + "," + px(sy(s.b[i]));
        }
        flush();
        break;
      }
      case Series::Kind::points: {
        if (!st.hollow) {
          // Filled points as one path of zero-length round-capped strokes ("M x yh0" each): a
          // fifth of the bytes of one <circle> per point, drawn the same.
          std::string d;
          for (std::size_t i = 0; i < s.a.size() && i < s.b.size(); ++i)
            if (ok(s.a[i], s.b[i])) d += "M" + std::to_string(std::lround(sx(s.a[i]))) + " " + std::to_string(std::lround(sy(s.b[i]))) + "h0";
          if (!d.empty())
            o += "<path class=\"pts\" fill=\"none\" stroke-linecap=\"round\" stroke=\"" + st.colour + "\" stroke-width=\"" + px(2 * st.radius) + "\"" +
                 (st.opacity < 1 ? " stroke-opacity=\"" + opacity(st.opacity) + "\"" : std::string()) + " d=\"" + d + "\"/>\n";
          break;
        }
        const std::string op = st.opacity < 1 ? " stroke-opacity=\"" + opacity(st.opacity) + "\"" : "";
        for (std::size_t i = 0; i < s.a.size() && i < s.b.size(); ++i)
          if (ok(s.a[i], s.b[i]))
            o += "<circle cx=\"" + px(sx(s.a[i])) + "\" cy=\"" + px(sy(s.b[i])) + "\" r=\"" + px(st.radius) + "\" fill=\"none\" stroke=\"" +
                 st.colour + "\"" + op + "/>";
        o += "\n";
        break;
      }
      case Series::Kind::band: {
        std::string pts;
        for (std::size_t i = 0; i < s.a.size(); ++i)
          if (ok(s.a[i], s.c[i])) pts += (pts.empty() ? "" : " ") + px(sx(s.a[i])) + "," + px(sy(s.c[i]));
        for (std::size_t i = s.a.size(); i-- > 0;)
          if (ok(s.a[i], s.b[i])) pts += " " + px(sx(s.a[i])) + "," + px(sy(s.b[i]));
        o += "<polygon fill=\"" + st.colour + "\" fill-opacity=\"" + opacity(st.opacity) + "\" stroke=\"none\" points=\"" + pts + "\"/>\n";
        break;
      }
      case Series::Kind::erry:
      case Series::Kind::errx: {
        std::string d;
        for (std::size_t i = 0; i < s.a.size(); ++i) {
          if (s.kind == Series::Kind::erry && ok(s.a[i], s.b[i]) && ok(s.a[i], s.c[i]))
            d += "M" + px(sx(s.a[i])) + " " + px(sy(s.b[i])) + "V" + px(sy(s.c[i]));
          if (s.kind == Series::Kind::errx && ok(s.b[i], s.a[i]) && ok(s.c[i], s.a[i]))
            d += "M" + px(sx(s.b[i])) + " " + px(sy(s.a[i])) + "H" + px(sx(s.c[i]));
        }
        if (!d.empty()) o += "<path fill=\"none\"" + stroke_attr(st) + " d=\"" + d + "\"/>\n";
        break;
      }
      case Series::Kind::bars: {
        // Every bar a closed subpath of one path.
        std::string d;
        for (std::size_t i = 0; i + 1 < s.a.size() && i < s.b.size(); ++i) {
          const double xa = sx(s.a[i]), xb = sx(s.a[i + 1]), ya = sy(std::max(0.0, y0)), yb = sy(s.b[i]);
          d += "M" + px(xa) + " " + px(ya) + "V" + px(yb) + "H" + px(xb) + "V" + px(ya) + "Z";
        }
        if (!d.empty()) o += "<path fill=\"" + st.colour + "\" fill-opacity=\"" + opacity(st.opacity) + "\" d=\"" + d + "\"/>\n";
        break;
      }
      case Series::Kind::steps: {
        std::string pts;
        for (std::size_t i = 0; i + 1 < s.a.size() && i < s.b.size(); ++i)
          pts += (pts.empty() ? "" : " ") + px(sx(s.a[i])) + "," + px(sy(s.b[i])) + " " + px(sx(s.a[i + 1])) + "," + px(sy(s.b[i]));
        o += "<polyline fill=\"none\"" + stroke_attr(st) + " points=\"" + pts + "\"/>\n";
        break;
      }
      case Series::Kind::hline:
        o += "<line x1=\"" + px(L) + "\" y1=\"" + px(sy(s.b[0])) + "\" x2=\"" + px(R) + "\" y2=\"" + px(sy(s.b[0])) + "\"" +
             stroke_attr(st) + "/>\n";
        break;
      case Series::Kind::vline:
        o += "<line x1=\"" + px(sx(s.a[0])) + "\" y1=\"" + px(T) + "\" x2=\"" + px(sx(s.a[0])) + "\" y2=\"" + px(B) + "\"" +
             stroke_attr(st) + "/>\n";
        break;
      case Series::Kind::text:
        o += "<text x=\"" + px(sx(s.a[0])) + "\" y=\"" + px(sy(s.b[0])) + "\" text-anchor=\"" + s.anchor + "\" class=\"note\">" +
             escape(s.label) + "</text>\n";
        break;
    }
  }
  // Labels and title.
  if (!xlabel_.empty())
    o += "<text x=\"" + px((L + R) / 2) + "\" y=\"" + px(h_ - 8) + "\" text-anchor=\"middle\" class=\"label\">" + escape(xlabel_) + "</text>\n";
  if (!ylabel_.empty())
    o += "<text transform=\"translate(" + px(14) + "," + px((T + B) / 2) + ") rotate(-90)\" text-anchor=\"middle\" class=\"label\">" +
         escape(ylabel_) + "</text>\n";
  if (!title_.empty())
    o += "<text x=\"" + px((L + R) / 2) + "\" y=\"" + px(T - 9) + "\" text-anchor=\"middle\" class=\"title\">" + escape(title_) + "</text>\n";
  // Legend: top right or top left inside the frame, or right of it.
  if (!entries.empty()) {
    const double lx = outside ? R + 8 : legend_ == Legend::top_right ? R - lw - 6 : L + 6, ly = outside ? T : T + 6;
    o += "<g class=\"legend\"><rect x=\"" + px(lx) + "\" y=\"" + px(ly) + "\" width=\"" + px(lw) + "\" height=\"" + px(lh) +
         "\" fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>";
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& e = *entries[i];
      const double cy = ly + 11 + 15 * double(i);
      switch (e.kind) {
        case Series::Kind::points:
          o += e.style.hollow ? "<path d=\"M" + px(lx + 13) + " " + px(cy) + "m-3.5,0a3.5,3.5 0 1,0 7,0a3.5,3.5 0 1,0 -7,0\" fill=\"none\" stroke=\"" + e.style.colour + "\"/>"
                              : "<path d=\"M" + px(lx + 13) + " " + px(cy) + "m-3.5,0a3.5,3.5 0 1,0 7,0a3.5,3.5 0 1,0 -7,0\" fill=\"" + e.style.colour + "\"/>";
          break;
        case Series::Kind::band:
        case Series::Kind::bars:
          o += "<rect x=\"" + px(lx + 5) + "\" y=\"" + px(cy - 5) + "\" width=\"16\" height=\"10\" fill=\"" + e.style.colour +
               "\" fill-opacity=\"" + opacity(std::max(0.3, e.style.opacity)) + "\"/>";
          break;
        default:
          o += "<line x1=\"" + px(lx + 5) + "\" y1=\"" + px(cy) + "\" x2=\"" + px(lx + 21) + "\" y2=\"" + px(cy) + "\"" +
               stroke_attr(e.style) + "/>";
      }
      o += "<text x=\"" + px(lx + 26) + "\" y=\"" + px(cy + 4) + "\" class=\"tick\">" + escape(e.label) + "</text>";
    }
    o += "</g>\n";
  }
  o += "</g>\n";
  return o;
}

namespace {
std::string open_svg(const std::string& id, const std::string& kind, double w, double h, bool style) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"" + escape(id) + "\"" +
         (kind.empty() ? std::string() : " data-kind=\"" + escape(kind) + "\"") + " width=\"" + px(w) + "\" height=\"" + px(h) +
         "\" viewBox=\"0 0 " + px(w) + " " + px(h) + "\">\n" + (style ? "<style>" + std::string(text_css) + "</style>\n" : std::string());
}
} // namespace

std::string Plot::render(const std::string& id, const std::string& kind, bool style) const {
  return open_svg(id, kind, w_, h_, style) + render_group(0, 0) + "</svg>\n";
}

Grid::Grid(int rows, int cols, double cell_width, double cell_height) : rows_(rows), cols_(cols), cw_(cell_width), ch_(cell_height) {}

Plot& Grid::at(int row, int col) {
  const int key = row * cols_ + col;
  for (auto& [k, p] : cells_)
    if (k == key) return p;
  cells_.emplace_back(key, Plot(cw_, ch_));
  return cells_.back().second;
}

std::string Grid::render(const std::string& id, const std::string& kind, const std::string& title, bool style) const {
  const double top = title.empty() ? 0 : 24;
  std::string o = open_svg(id, kind, cw_ * cols_, ch_ * rows_ + top, style);
  if (!title.empty())
    o += "<text x=\"" + px(cw_ * cols_ / 2) + "\" y=\"16\" text-anchor=\"middle\" class=\"title\">" + escape(title) + "</text>\n";
  for (const auto& [k, p] : cells_) o += p.render_group(cw_ * (k % cols_), top + ch_ * (k / cols_));
  return o + "</svg>\n";
}

} // namespace bactor::cli::svg
