struct Connection {
    port: u16,
}

#[dlp::spmd]
fn simulate(connection: Connection, steps: u32) -> u32 {
    u32::from(connection.port) + steps
}

fn main() {
    println!("{}", simulate(Connection { port: 80 }, 3));
}
