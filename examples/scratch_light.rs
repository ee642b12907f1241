use std::hint::black_box;
use std::time::Instant;
fn kernel(n: u64) -> f64 {
    let x = (n + 1) as f64;
    x.ln() / x.sqrt()
}
const N: u64 = 1 << 20;
fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
fn t(m: &mut Vec<f64>, f: impl FnOnce()) {
    let t = Instant::now();
    f();
    m.push(t.elapsed().as_secs_f64() * 1e3);
}
fn main() {
    let names = [
        "plain collect",
        "plain for-push",
        "plain sum",
        "share collect",
        "share for-push",
        "share sum",
        "managed collect",
        "managed for-push",
    ];
    let out = dlp::World::threads(2).run(|| {
        let mut m: Vec<Vec<f64>> = vec![vec![]; names.len()];
        let r = dlp::rank() as u64;
        let range = r * N / 2..(r + 1) * N / 2;
        for _ in 0..31 {
            dlp::barrier();
            t(&mut m[0], || {
                black_box(range.clone().map(kernel).collect::<Vec<f64>>());
            });
            dlp::barrier();
            t(&mut m[1], || {
                let mut v = Vec::new();
                for x in range.clone() {
                    v.push(kernel(x))
                }
                black_box(v);
            });
            dlp::barrier();
            t(&mut m[2], || {
                black_box(range.clone().map(kernel).sum::<f64>());
            });
            dlp::barrier();
            t(&mut m[3], || {
                black_box(dlp::split_block(0..N).map(kernel).collect::<Vec<f64>>());
            });
            dlp::barrier();
            t(&mut m[4], || {
                let mut v = Vec::new();
                for x in dlp::split_block(0..N) {
                    v.push(kernel(x))
                }
                black_box(v);
            });
            dlp::barrier();
            t(&mut m[5], || {
                black_box(dlp::split_block(0..N).map(kernel).sum::<f64>());
            });
            dlp::barrier();
            t(&mut m[6], || {
                black_box(dlp::split_managed(0..N).map(kernel).collect::<Vec<f64>>());
            });
            dlp::barrier();
            t(&mut m[7], || {
                let mut v = Vec::new();
                for x in dlp::split_managed(0..N) {
                    v.push(kernel(x))
                }
                black_box(v);
            });
        }
        dlp::gather(m.into_iter().map(med).collect::<Vec<_>>())
    });
    let out = out.unwrap();
    for (i, name) in names.iter().enumerate() {
        println!("{name:18} rank0 {:.2} rank1 {:.2}", out[0][i], out[1][i]);
    }
}
