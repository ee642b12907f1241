//! Builds the C twin with OpenMP (gcc's `-fopenmp`, libgomp) and links libgomp.

fn main() {
    println!("cargo:rerun-if-changed=src/epcc.c");
    cc::Build::new()
        .file("src/epcc.c")
        .flag("-fopenmp")
        .opt_level(2)
        .compile("dlp_epcc");
    println!("cargo:rustc-link-lib=gomp");
}
