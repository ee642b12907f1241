use dlp::main_only;

struct Model {
    weights: Vec<f64>,
}

#[main_only(broadcast)]
fn load_model() -> Model {
    Model { weights: vec![0.5; 4] }
}

#[dlp::main]
fn main() {
    println!("{}", load_model().weights.len());
}
