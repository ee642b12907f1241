//! Data that every rank reads, loaded once per process: a lookup table built before the
//! parallel region and borrowed by it. Each rank-thread of a process reads the same copy, so
//! `mpiexec -n NODES` with `DLP_THREADS=cores` holds one copy per node where `mpiexec -n
//! NODES×cores` holds one per core.
//!
//! `cargo run --release --example shared_table [MB]` (default 16 MB)
//! `DLP_THREADS=4 mpiexec -n 2 target/release/examples/shared_table 512` (feature `mpi`)

/// A table of pseudo-random numbers, the same on every process.
struct Table(Vec<u64>);

impl Table {
    fn build(megabytes: usize) -> Table {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let entries = megabytes * (1 << 20) / std::mem::size_of::<u64>();
        Table(
            (0..entries)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state
                })
                .collect(),
        )
    }

    /// The entry that `query` hashes to.
    fn lookup(&self, query: u64) -> u64 {
        let hashed = query.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0[(hashed % self.0.len() as u64) as usize]
    }
}

/// Every rank looks up its share of the queries in the one table of its process.
#[dlp::spmd]
fn checksum(table: &Table) -> Option<u64> {
    let mut sum = 0u64;
    #[par_for(split = "managed")]
    for query in 0..1_000_000u64 {
        sum = sum.wrapping_add(table.lookup(query));
    }
    dlp::gather(sum).map(|sums| sums.into_iter().fold(0, u64::wrapping_add))
}

fn main() {
    let megabytes = std::env::args()
        .nth(1)
        .map_or(16, |text| text.parse().expect("a table size in MB"));
    let table = Table::build(megabytes);
    if let Some(sum) = checksum(&table) {
        println!("{megabytes} MB table, checksum {sum:016x}");
    }
}
