//! `kwasm-bench-chart FONT.ttf OUT.png TITLE < tables.tsv`: grouped bar
//! charts, one panel per table, stacked: one group per row of a table and
//! one bar per series, with a dashed line at 1 (the baseline the values are
//! ratios to).
//!
//! The input (from `cargo xtask bench`) is tables separated by empty
//! lines, each tab-separated: a header line `panel title<TAB>series 1<TAB>
//! series 2...`, then one line per group, its name then its values; `-` is
//! a value that is missing (no bar).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::io::Read;

const FAMILY: &str = "kwasm-chart";
const COLORS: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
];

type Error = Box<dyn std::error::Error>;

struct Table {
    title: String,
    series: Vec<String>,
    groups: Vec<(String, Vec<Option<f64>>)>,
}

fn parse(block: &str) -> Result<Table, String> {
    let mut lines = block.lines();
    let header = lines.next().ok_or("empty table")?;
    let mut head = header.split('\t').map(str::to_string);
    let title = head.next().unwrap_or_default();
    let series: Vec<String> = head.collect();
    let mut groups = Vec::new();
    for line in lines {
        let mut cells = line.split('\t');
        let name = cells.next().unwrap_or_default().to_string();
        let values = cells
            .map(|c| match c.trim() {
                "-" => Ok(None),
                v => v.parse::<f64>().map(Some).map_err(|_| format!("not a number: {v}")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if values.len() != series.len() {
            return Err(format!(
                "`{line}` has {} values for {} series",
                values.len(),
                series.len()
            ));
        }
        groups.push((name, values));
    }
    Ok(Table { title, series, groups })
}

fn panel(area: &DrawingArea<BitMapBackend, Shift>, table: &Table) -> Result<(), Error> {
    let n = table.groups.len();
    let top = table
        .groups
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .fold(1.0f64, |m, &v| m.max(v))
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)?;
    let names: Vec<&str> = table.groups.iter().map(|(g, _)| g.as_str()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).copied().unwrap_or("").to_string()
            } else {
                String::new()
            }
        })
        .y_desc(table.title.as_str())
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 16))
        .draw()?;
    let width = 0.8 / table.series.len() as f64;
    for (s, name) in table.series.iter().enumerate() {
        let color = COLORS[s % COLORS.len()];
        let bars = table.groups.iter().enumerate().filter_map(move |(g, (_, values))| {
            let v = values[s]?;
            let x0 = g as f64 - 0.4 + s as f64 * width;
            Some(Rectangle::new([(x0, 0.0), (x0 + width * 0.92, v)], color.filled()))
        });
        chart
            .draw_series(bars)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        // Each bar's value above it.
        let values = table.groups.iter().enumerate().filter_map(move |(g, (_, values))| {
            let v = values[s]?;
            let x = g as f64 - 0.4 + (s as f64 + 0.1) * width;
            Some(Text::new(format!("{v:.2}"), (x, v + top * 0.012), (FAMILY, 12)))
        });
        chart.draw_series(values)?;
    }
    // The baseline: dashes along y = 1.
    let dashes = (0..(n * 8)).step_by(2).map(|i| {
        let x = -0.5 + i as f64 / 8.0;
        PathElement::new(vec![(x, 1.0), (x + 1.0 / 8.0, 1.0)], BLACK.stroke_width(2))
    });
    chart.draw_series(dashes)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FAMILY, 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn draw(tables: &[Table], out: &str, title: &str) -> Result<(), Error> {
    let root = BitMapBackend::new(out, (1400, 60 + 560 * tables.len() as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.margin(12, 0, 0, 0).titled(title, (FAMILY, 26))?;
    for (area, table) in root.split_evenly((tables.len(), 1)).iter().zip(tables) {
        panel(area, table)?;
    }
    root.present()?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, font, out, title] = args.as_slice() else {
        eprintln!("usage: kwasm-bench-chart FONT.ttf OUT.png TITLE < tables.tsv");
        return std::process::ExitCode::from(2);
    };
    let result = (|| -> Result<(), Error> {
        // The font lives as long as the process: plotters keeps a 'static reference.
        let bytes: &'static [u8] = Vec::leak(std::fs::read(font).map_err(|e| format!("{font}: {e}"))?);
        register_font(FAMILY, FontStyle::Normal, bytes).map_err(|_| format!("{font}: not a font ab_glyph reads"))?;
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        let tables = text
            .split("\n\n")
            .filter(|b| !b.trim().is_empty())
            .map(|b| parse(b.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        if tables.is_empty() {
            return Err("no table on stdin".into());
        }
        draw(&tables, out, title)
    })();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kwasm-bench-chart: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
