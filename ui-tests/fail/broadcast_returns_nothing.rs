use dlp::main_only;

#[main_only(broadcast)]
fn announce() {
    println!("starting");
}

#[dlp::main]
fn main() {
    announce();
}
