// A journal is a path: any expression of a type that is `AsRef<Path>`, checked by the compiler.
#[dlp::main]
fn main() {
    let journal = 42;
    #[par_for(journal = journal)]
    for example in 0..10 {
        println!("{example}");
    }
}
