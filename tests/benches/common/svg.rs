//! Charts of bench results as hand-written SVG (no plotting dependency): the distribution of
//! end-to-end latencies, and figures as bars beside their baselines. bench/README.md shows one of
//! each from a real run.

use super::report::Row;
use std::fmt::Write;

const WIDTH: f64 = 760.0;
const FONT: &str = "font-family=\"sans-serif\" font-size=\"12\"";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The latency distribution of `samples_ms` (any order): latency (y) at each percentile (x),
/// with p50, p90, p99 and the maximum marked.
pub fn latency_distribution(title: &str, samples_ms: &[f64]) -> String {
    let (height, left, right, top, bottom) = (360.0, 60.0, 20.0, 40.0, 40.0);
    let (plot_w, plot_h) = (WIDTH - left - right, height - top - bottom);
    let mut sorted = samples_ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let max = sorted.last().copied().unwrap_or(1.0).max(f64::MIN_POSITIVE);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let mut svg = header(height, title);
    let _ = writeln!(
        svg,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#999\"/>"
    );
    if sorted.is_empty() {
        let _ = writeln!(
            svg,
            "<text x=\"{left}\" y=\"{}\" {FONT}>no samples</text>",
            top + 20.0
        );
        return svg + "</svg>\n";
    }
    let x = |q: f64| left + q * plot_w;
    let y = |ms: f64| top + plot_h - ms / max * plot_h;
    let points: Vec<String> = (0..=200)
        .map(|i| {
            let q = i as f64 / 200.0;
            format!("{:.1},{:.1}", x(q), y(at(q)))
        })
        .collect();
    let _ = writeln!(
        svg,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>",
        points.join(" ")
    );
    for (label, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)] {
        let (px, py) = (x(q), y(at(q)));
        let _ = writeln!(
            svg,
            "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3\" fill=\"#d62728\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" {FONT} text-anchor=\"end\">{label} {:.1} ms</text>",
            px - 6.0,
            py - 6.0,
            at(q)
        );
    }
    for i in 0..=4 {
        let ms = max * i as f64 / 4.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} text-anchor=\"end\">{ms:.0} ms</text>",
            left - 6.0,
            y(ms) + 4.0
        );
    }
    for i in 0..=10 {
        let q = i as f64 / 10.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} text-anchor=\"middle\">{}%</text>",
            x(q),
            height - bottom + 16.0,
            i * 10
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} text-anchor=\"middle\">percentile of {} samples</text>",
        left + plot_w / 2.0,
        height - 6.0,
        sorted.len()
    );
    svg + "</svg>\n"
}

/// The rows that have a baseline, each as two bars: the figure and its baseline, scaled per
/// row (the units differ), with the ratio.
pub fn beside_baselines(title: &str, rows: &[Row]) -> String {
    let rows: Vec<&Row> = rows.iter().filter(|r| r.baseline.is_some()).collect();
    let (label_w, bar_h, gap, top) = (300.0, 14.0, 10.0, 40.0);
    let height = top + rows.len() as f64 * (2.0 * bar_h + gap) + 20.0;
    let bar_w = WIDTH - label_w - 150.0;
    let mut svg = header(height, title);
    for (i, row) in rows.iter().enumerate() {
        let (baseline_label, baseline) = row.baseline.clone().expect("filtered");
        let scale = row.now.max(baseline).max(f64::MIN_POSITIVE);
        let y = top + i as f64 * (2.0 * bar_h + gap);
        let ratio = row.ratio().unwrap_or(f64::NAN);
        let colour = match row.met() {
            Some(false) => "#d62728",
            _ => "#1f77b4",
        };
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} text-anchor=\"end\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" {FONT} text-anchor=\"end\" fill=\"#666\">{}</text>",
            label_w - 6.0,
            y + bar_h - 3.0,
            escape(&row.figure),
            label_w - 6.0,
            y + 2.0 * bar_h - 3.0,
            escape(&baseline_label),
        );
        for (value, offset, fill) in [(row.now, 0.0, colour), (baseline, bar_h, "#bbb")] {
            let w = value / scale * bar_w;
            let _ = writeln!(
                svg,
                "<rect x=\"{label_w}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{fill}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" {FONT}>{:.0} {}</text>",
                y + offset,
                bar_h - 2.0,
                label_w + w + 4.0,
                y + offset + bar_h - 3.0,
                value,
                row.unit
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-weight=\"bold\">x{ratio:.2}</text>",
            WIDTH - 50.0,
            y + bar_h + 4.0
        );
    }
    svg + "</svg>\n"
}

/// One bar per series in each group (e.g. a query's p99 at each table size), on one scale,
/// with `limit` (a target) as a dashed line.
pub fn grouped_bars(
    title: &str,
    unit: &str,
    groups: &[String],
    series: &[(String, Vec<f64>)],
    limit: Option<f64>,
) -> String {
    const COLOURS: [&str; 4] = ["#9ecae1", "#4292c6", "#08519c", "#08306b"];
    let (height, left, top, bottom) = (360.0, 60.0, 50.0, 50.0);
    let plot_h = height - top - bottom;
    let max = series
        .iter()
        .flat_map(|(_, values)| values.iter().copied())
        .chain(limit)
        .fold(f64::MIN_POSITIVE, f64::max)
        * 1.1;
    let y = |value: f64| top + plot_h - value / max * plot_h;
    let group_w = (WIDTH - left - 20.0) / groups.len().max(1) as f64;
    let bar_w = (group_w - 20.0) / series.len().max(1) as f64;
    let mut svg = header(height, title);
    for (s, (name, _)) in series.iter().enumerate() {
        let x = left + s as f64 * 110.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"30\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"40\" {FONT}>{}</text>",
            COLOURS[s % COLOURS.len()],
            x + 16.0,
            escape(name)
        );
    }
    for (g, group) in groups.iter().enumerate() {
        let x0 = left + g as f64 * group_w + 10.0;
        for (s, (_, values)) in series.iter().enumerate() {
            let Some(&value) = values.get(g) else {
                continue;
            };
            let x = x0 + s as f64 * bar_w;
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" {FONT} text-anchor=\"middle\">{value:.1}</text>",
                y(value),
                bar_w - 2.0,
                top + plot_h - y(value),
                COLOURS[s % COLOURS.len()],
                x + bar_w / 2.0,
                y(value) - 3.0
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} text-anchor=\"middle\">{}</text>",
            x0 + (group_w - 20.0) / 2.0,
            height - bottom + 16.0,
            escape(group)
        );
    }
    let right = WIDTH - 20.0;
    if let Some(limit) = limit {
        let (ly, label_y) = (y(limit), y(limit) - 4.0);
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" x2=\"{right:.1}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" \
             stroke=\"#d62728\" stroke-dasharray=\"6 4\"/><text x=\"{right:.1}\" \
             y=\"{label_y:.1}\" {FONT} fill=\"#d62728\" text-anchor=\"end\">target {limit} {unit}</text>"
        );
    }
    let (axis_y, unit_x, unit_y) = (top + plot_h, left - 6.0, top + 4.0);
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" x2=\"{right:.1}\" y1=\"{axis_y:.1}\" y2=\"{axis_y:.1}\" stroke=\"#999\"/>\
         <text x=\"{unit_x:.1}\" y=\"{unit_y:.1}\" {FONT} text-anchor=\"end\">{unit}</text>"
    );
    svg + "</svg>\n"
}

fn header(height: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"22\" font-family=\"sans-serif\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        escape(title)
    )
}

/// Writes `svg` beside the run's results file, as `<its name>-<name>.svg` (not in a smoke
/// run); returns where.
pub fn save(name: &str, svg: &str) -> Option<std::path::PathBuf> {
    if super::report::smoke() {
        return None;
    }
    let results = super::report::results_path();
    let stem = results.file_stem()?.to_string_lossy().into_owned();
    let path = results.with_file_name(format!("{stem}-{name}.svg"));
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, svg));
    match written {
        Ok(()) => {
            println!("chart written to {}", path.display());
            Some(path)
        }
        Err(e) => {
            eprintln!("warning: chart not written to {}: {e}", path.display());
            None
        }
    }
}
