use dlp::main_only;

trait Report {
    #[main_only]
    fn write(&self) -> String;
}

fn main() {}
