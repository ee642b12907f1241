fn main() {
    let mut results = Vec::new();
    #[dlp::par_for(split = "managed")]
    for example in 0..10 {
        results.push(example);
    }
    println!("{results:?}");
}
