// Package report draws mpq's charts. It follows "compute, then render"
// (as Optuna's visualization modules do): every chart is first a plain data
// value (a BarChart: categories, named series of numbers, a scale), built
// from results by a function such as SensitivityChart, and only then drawn
// with gonum.org/v1/plot. The data values can be tested, printed or
// serialised without any drawing.
//
// # Log-scale bars
//
// Sensitivities span orders of magnitude, so bar charts usually use a
// logarithmic value axis. gonum/plot's own bar chart draws every bar from
// zero, which a log axis cannot show; this package draws bars from the
// bottom of the axis instead, and leaves out values that are not positive
// and finite (a log axis has no place for them). The axis covers the
// positive values, with room above them for the legend, and at least a
// factor of ten overall.
//
// # Study reports
//
// A Study (built by search.StudyReport from the study database) holds a
// finished study as plain values: trial results, the Pareto front, the fp32
// baseline, the sensitivity table and the hypervolume history. Its methods
// turn it into chart data — TradeoffChart (a ScatterChart of accuracy
// against size or BOPs), BitsChart (a HeatmapChart of the front's
// bitwidths), HypervolumeChart (a LineChart) and StudySensitivityChart (a
// BarChart) — which RenderPNG draws; WriteStudy writes the PNG files and
// an index.html that embeds them as data URIs, so the page is one file.
package report
