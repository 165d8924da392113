// SPDX-License-Identifier: MIT
// A compact SVG plot writer for `bactor report`: line, point, band, error-bar, bar and step
// series on linear or log axes with "nice" ticks, axis labels, a title and a legend; several
// panels in one SVG for grids (pairs plots). Output is plain SVG 1.1 markup (no scripts, no
// external resources), small enough to inline many plots in one HTML file.
#pragma once

#include <string>
#include <vector>

namespace bactor::cli::svg {

/// The CSS of the plots' text (classes tick, label, title, note), inside each <svg> unless the
/// page that holds many plots carries it once.
inline constexpr const char* text_css =
    "text{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;fill:#222}.tick{font-size:10px}.label{font-size:12px}"
    ".title{font-size:13px;font-weight:bold}.note{font-size:11px;fill:#333}";

/// Escapes &, <, >, " and ' for XML text and attribute values.
std::string escape(const std::string& text);

/// Tick positions and their labels for an axis spanning [lo, hi].
struct Ticks {
  std::vector<double> at;
  std::vector<std::string> labels;
};
/// About `target` ticks at 1, 2 or 5 times a power of ten, labelled with just enough decimals.
Ticks nice_ticks(double lo, double hi, int target = 5);
/// Ticks of a log axis: powers of ten; 1-2-5 multiples under two decades, 1-2-3-5 under 1.2.
Ticks log_ticks(double lo, double hi);

/// The categorical palette (Tableau 10); colour(i) cycles through it.
std::string colour(std::size_t i);

struct Style {
  std::string colour = "#1f77b4";
  double width = 1.5;          // stroke width
  double opacity = 1.0;        // stroke/fill opacity
  double radius = 2.5;         // point radius
  std::string dash;            // stroke-dasharray, e.g. "4 3"
  bool hollow = false;         // points: outline only
};

/// One panel: data series in data coordinates, axes, labels, legend.
class Plot {
public:
  Plot(double width = 420, double height = 280);
  Plot& title(const std::string& t) { title_ = t; return *this; }
  Plot& xlabel(const std::string& t) { xlabel_ = t; return *this; }
  Plot& ylabel(const std::string& t) { ylabel_ = t; return *this; }
  Plot& xlog(bool on = true) { xlog_ = on; return *this; }
  /// Fixed ranges (otherwise from the data, padded by 4%).
  Plot& xrange(double lo, double hi) { xlo_ = lo, xhi_ = hi, xfixed_ = true; return *this; }
  Plot& yrange(double lo, double hi) { ylo_ = lo, yhi_ = hi, yfixed_ = true; return *this; }
  /// Include y = 0 in the automatic range (densities, counts).
  Plot& yzero(bool on = true) { yzero_ = on; return *this; }
  /// Margins (pixels): left, right, top, bottom.
  Plot& margins(double l, double r, double t, double b) { ml_ = l, mr_ = r, mt_ = t, mb_ = b; return *this; }
  Plot& ticks(bool x, bool y) { xticks_ = x, yticks_ = y; return *this; }
  /// Legend inside the frame at the top right (default) or top left, or outside, right of the frame.
  enum class Legend { top_right, top_left, outside };
  Plot& legend(Legend where) { legend_ = where; return *this; }
  /// Draw the frame and grid (default true; false for text-only panels).
  Plot& frame(bool on) { frame_ = on; return *this; }

  Plot& line(const std::vector<double>& x, const std::vector<double>& y, const Style& s, const std::string& label = "");
  Plot& points(const std::vector<double>& x, const std::vector<double>& y, const Style& s, const std::string& label = "");
  /// A filled band between lo and hi along x.
  Plot& band(const std::vector<double>& x, const std::vector<double>& lo, const std::vector<double>& hi, const Style& s,
             const std::string& label = "");
  /// Vertical error bars at x from lo to hi (horizontal = true: horizontal bars at y from lo to hi).
  Plot& errorbars(const std::vector<double>& at, const std::vector<double>& lo, const std::vector<double>& hi, const Style& s,
                  bool horizontal = false, const std::string& label = "");
  /// Histogram bars: edges.size() == counts.size() + 1.
  Plot& bars(const std::vector<double>& edges, const std::vector<double>& counts, const Style& s, const std::string& label = "");
  /// Step line over bins (edges.size() == counts.size() + 1).
  Plot& steps(const std::vector<double>& edges, const std::vector<double>& counts, const Style& s, const std::string& label = "");
  Plot& hline(double y, const Style& s, const std::string& label = "");
  Plot& vline(double x, const Style& s, const std::string& label = "");
  /// Text at data coordinates (anchor "start", "middle" or "end").
  Plot& text(double x, double y, const std::string& t, const std::string& anchor = "start");

  double width() const { return w_; }
  double height() const { return h_; }
  /// A complete <svg> element; `id` becomes its id attribute, `kind` its data-kind. `style`:
  /// the text styles (text_css) inside the element; false when the page carries them once.
  std::string render(const std::string& id, const std::string& kind = "", bool style = true) const;
  /// The panel's content as a <g> translated to (ox, oy) (for grids).
  std::string render_group(double ox, double oy) const;

private:
  struct Series {
    enum class Kind { line, points, band, errx, erry, bars, steps, hline, vline, text } kind;
    std::vector<double> a, b, c;  // x,y | x,lo,hi | edges,counts
    Style style;
    std::string label, anchor;
  };
  void ranges(double& x0, double& x1, double& y0, double& y1) const;
  double w_, h_;
  double ml_ = 58, mr_ = 14, mt_ = 28, mb_ = 44;
  std::string title_, xlabel_, ylabel_;
  bool xlog_ = false, xfixed_ = false, yfixed_ = false, yzero_ = false, xticks_ = true, yticks_ = true, frame_ = true;
  Legend legend_ = Legend::top_right;
  double xlo_ = 0, xhi_ = 1, ylo_ = 0, yhi_ = 1;
  std::vector<Series> series_;
};

/// Several panels in one SVG, on a rows x cols grid of equal cells (panels may be left empty).
class Grid {
public:
  Grid(int rows, int cols, double cell_width, double cell_height);
  /// The panel at (row, col), created on first use with the cell's size.
  Plot& at(int row, int col);
  std::string render(const std::string& id, const std::string& kind = "", const std::string& title = "", bool style = true) const;

private:
  int rows_, cols_;
  double cw_, ch_;
  std::vector<std::pair<int, Plot>> cells_;  // row * cols + col, panel
};

} // namespace bactor::cli::svg
