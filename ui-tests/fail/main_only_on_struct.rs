use dlp::main_only;

#[main_only]
struct Report {
    lines: Vec<String>,
}

fn main() {
    let report = Report { lines: Vec::new() };
    println!("{}", report.lines.len());
}
