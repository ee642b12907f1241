#[dlp::main]
fn main() {
    #[par_for(split = "managed")]
    loop {
        break;
    }
}
