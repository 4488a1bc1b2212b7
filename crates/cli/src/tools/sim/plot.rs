//! Plots of a sweep: SVG and PNG through plotters, and a terminal plot. plotters lays out
//! text with a font it is given (`ab_glyph`): DejaVu Sans from Debian's fonts-dejavu-core
//! (which `cargo xtask` installs), or the TrueType file `MODKIT_FONT` names. Without one,
//! both plots are drawn without text, and the caller says so.

use modkit_sim::sweep::Sweep;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where Debian's fonts-dejavu-core puts its sans-serif face.
const DEJAVU_SANS: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// The font file to draw text with: `MODKIT_FONT`, else DejaVu Sans.
fn font_path() -> PathBuf {
    std::env::var_os("MODKIT_FONT").map_or_else(|| PathBuf::from(DEJAVU_SANS), PathBuf::from)
}

/// Registers the font as plotters' "sans-serif" once; whether plots can have text.
pub fn text_available() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        let Ok(bytes) = std::fs::read(font_path()) else {
            return false;
        };
        // plotters keeps fonts for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    })
}

/// Why a plot has no text, for the caller to print.
pub fn no_text_note() -> String {
    format!(
        "no font at {} (install fonts-dejavu-core, or set MODKIT_FONT to a TrueType file): the plots have no text",
        font_path().display()
    )
}

/// One colour per version, in sweep order.
const PALETTE: [RGBColor; 10] = [
    RGBColor(228, 26, 28),
    RGBColor(255, 127, 0),
    RGBColor(166, 86, 40),
    RGBColor(55, 126, 184),
    RGBColor(77, 175, 74),
    RGBColor(152, 78, 163),
    RGBColor(0, 0, 0),
    RGBColor(247, 129, 191),
    RGBColor(153, 153, 153),
    RGBColor(23, 190, 207),
];

/// Which quantity a panel shows (MiB against CPUs).
#[derive(Clone, Copy)]
enum Panel {
    Stats,
    Peak,
}

impl Panel {
    fn value(self, p: &modkit_sim::sweep::Point) -> f64 {
        match self {
            Panel::Stats => p.stats_wasted_bytes as f64 / 1_048_576.0,
            Panel::Peak => p.peak_excess_kb as f64 / 1024.0,
        }
    }
    fn title(self) -> &'static str {
        match self {
            Panel::Stats => "wasted by duplicates, stats.c accounting (MiB)",
            Panel::Peak => "peak VmallocUsed above 1 CPU (MiB)",
        }
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sweep: &Sweep,
    panel: Panel,
    text: bool,
) -> Result<(), String> {
    let max_x = sweep.points.iter().map(|p| p.cpus).max().unwrap_or(1) as f64;
    let max_y = sweep
        .points
        .iter()
        .map(|p| panel.value(p))
        .fold(1.0_f64, f64::max)
        * 1.05;
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(12)
        .x_label_area_size(if text { 35 } else { 5 })
        .y_label_area_size(if text { 60 } else { 5 });
    if text {
        builder.caption(panel.title(), ("sans-serif", 16));
    }
    let mut chart = builder
        .build_cartesian_2d(0.0..max_x, 0.0..max_y)
        .map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("CPUs");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    for (i, v) in sweep.versions().iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let series: Vec<(f64, f64)> = sweep
            .series(v)
            .iter()
            .map(|p| (f64::from(p.cpus), panel.value(p)))
            .collect();
        let drawn = chart
            .draw_series(LineSeries::new(series, color.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        if text {
            drawn.label(v.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        }
        let exhausted: Vec<(f64, f64)> = sweep
            .series(v)
            .iter()
            .filter(|p| p.enomem > 0)
            .map(|p| (f64::from(p.cpus), panel.value(p)))
            .collect();
        let first = exhausted.first().map(|&(cpus, _)| cpus);
        let crosses = chart
            .draw_series(
                exhausted
                    .into_iter()
                    .map(|c| Cross::new(c, 6, color.stroke_width(3))),
            )
            .map_err(|e| e.to_string())?;
        if let (true, Some(cpus)) = (text, first) {
            crosses
                .label(format!(
                    "{v}: module area exhausted (-ENOMEM) from {cpus} CPUs"
                ))
                .legend(move |(x, y)| Cross::new((x + 8, y), 5, color.stroke_width(2)));
        }
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn draw_all<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    sweep: &Sweep,
    text: bool,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    draw_panel(&left, sweep, Panel::Stats, text)?;
    draw_panel(&right, sweep, Panel::Peak, text)?;
    root.present().map_err(|e| e.to_string())
}

/// Writes the sweep plot as SVG and PNG, with titles, axis labels and legends when a font
/// is there ([`text_available`]); returns whether they have text.
pub fn write_plots(sweep: &Sweep, svg: &Path, png: &Path) -> Result<bool, String> {
    let text = text_available();
    draw_all(
        SVGBackend::new(svg, (1400, 600)).into_drawing_area(),
        sweep,
        text,
    )?;
    draw_all(
        BitMapBackend::new(png, (1400, 600)).into_drawing_area(),
        sweep,
        text,
    )?;
    Ok(text)
}

/// A terminal plot of the stats.c waste: one letter per version, `!` where the module
/// area ran out.
pub fn terminal(sweep: &Sweep, width: usize, height: usize) -> String {
    let versions = sweep.versions();
    let max_x = sweep.points.iter().map(|p| p.cpus).max().unwrap_or(1) as f64;
    let max_y = sweep
        .points
        .iter()
        .map(|p| Panel::Stats.value(p))
        .fold(1.0_f64, f64::max);
    let mut grid = vec![vec![' '; width]; height];
    for (i, v) in versions.iter().enumerate() {
        let mark = (b'a' + i as u8) as char;
        for p in sweep.series(v) {
            let x = ((f64::from(p.cpus) / max_x) * (width - 1) as f64).round() as usize;
            let y = ((Panel::Stats.value(p) / max_y) * (height - 1) as f64).round() as usize;
            let row = height - 1 - y.min(height - 1);
            grid[row][x.min(width - 1)] = if p.enomem > 0 { '!' } else { mark };
        }
    }
    let mut out = format!("stats.c wasted MiB (max {max_y:.0}) against CPUs (max {max_x:.0})\n");
    for row in grid {
        out.push('|');
        out.extend(row);
        out.push('\n');
    }
    out.push('+');
    out.push_str(&"-".repeat(width));
    out.push('\n');
    let legend: Vec<String> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{}={v}", (b'a' + i as u8) as char))
        .collect();
    out.push_str(&legend.join("  "));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use modkit_sim::sweep::Point;

    fn sweep() -> Sweep {
        let point = |version: &str, cpus: u32, mib: u64, enomem: u64| Point {
            version: version.into(),
            cpus,
            stats_wasted_bytes: mib << 20,
            real_wasted_bytes: mib << 20,
            peak_vmalloc_kb: mib << 10,
            peak_excess_kb: mib << 10,
            peak_module_area_bytes: 0,
            enomem,
            syscalls: 0,
            init_runs: 0,
            images: 0,
            end_ms: 0.0,
        };
        Sweep {
            profile: "t".into(),
            kasan: false,
            smt: true,
            points: vec![
                point("6.1", 1, 0, 0),
                point("6.1", 512, 900, 1),
                point("6.12", 1, 0, 0),
                point("6.12", 512, 3, 0),
            ],
            exhaustion: vec![("6.1".into(), Some(512)), ("6.12".into(), None)],
        }
    }

    /// Pixels that are not white in the PNG drawing of the sweep.
    fn inked(text: bool) -> usize {
        let (w, h) = (700u32, 300u32);
        let mut buf = vec![0u8; (w * h * 3) as usize];
        draw_all(
            BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area(),
            &sweep(),
            text,
        )
        .expect("draws");
        buf.chunks(3).filter(|p| p != &[255, 255, 255]).count()
    }

    #[test]
    fn the_png_has_titles_labels_and_legends_when_the_font_is_there() {
        if !text_available() {
            let must = std::env::var("MODKIT_REQUIRE_TREES").is_ok_and(|v| v == "1");
            assert!(!must, "{}", no_text_note());
            eprintln!("NOTE: the_png_has_text SKIPPED: {}", no_text_note());
            return;
        }
        let (with, without) = (inked(true), inked(false));
        assert!(
            with > without + 2000,
            "text adds ink: {with} pixels against {without}"
        );
    }

    #[test]
    fn a_missing_font_is_named_in_the_note() {
        assert!(no_text_note().contains("fonts-dejavu-core"));
    }
}
