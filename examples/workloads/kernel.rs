//! The driver kernel of the tutorial, f(n) = ln(n+1)/sqrt(n+1): about 10 ns an item, light
//! enough that the cost of handing items out shows.

pub fn kernel(n: u64) -> f64 {
    let x = (n + 1) as f64;
    x.ln() / x.sqrt()
}
