#[dlp::main]
fn main() {
    #[par_for(journal = 5)]
    for example in 0..10 {
        println!("{example}");
    }
    #[par_for(journal = "")]
    for example in 0..10 {
        println!("{example}");
    }
    #[par_for(journal)]
    for example in 0..10 {
        println!("{example}");
    }
    #[par_for(journal = "a.journal", journal = "b.journal")]
    for example in 0..10 {
        println!("{example}");
    }
}
