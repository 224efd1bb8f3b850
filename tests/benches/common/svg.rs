//! Charts of bench results as hand-written SVG (no plotting dependency): the distribution of
//! end-to-end latencies, and figures as bars beside their baselines. The README shows one of
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

fn header(height: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"22\" font-family=\"sans-serif\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        escape(title)
    )
}

/// Writes `svg` as `bench/results/<UTC date>-<name>.svg` (not in a smoke run); returns where.
pub fn save(name: &str, svg: &str) -> Option<std::path::PathBuf> {
    if super::report::smoke() {
        return None;
    }
    let path = super::report::results_dir().join(format!(
        "{}-{name}.svg",
        chrono::Utc::now().format("%Y-%m-%d")
    ));
    let written = std::fs::create_dir_all(super::report::results_dir())
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
