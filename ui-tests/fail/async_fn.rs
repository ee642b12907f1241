use dlp::main_only;

#[main_only]
async fn write_report() -> usize {
    3
}

fn main() {
    let _ = write_report();
}
