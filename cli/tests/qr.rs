//! `tally qr`: the label of a Digital Link, read back by a QR decoder (rqrr) from the PNG; the
//! SVG drawn; a URI that is not a Digital Link, or a format it does not write, refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

const URI: &str = "https://tally.example.com/01/09506000134352/21/C2M-0001";

fn tally(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .output()
        .unwrap()
}

/// Decodes the QR code in a greyscale PNG.
fn read_label(path: &Path) -> String {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (width, height) = (info.width as usize, info.height as usize);
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    grids[0].decode().unwrap().1
}

#[test]
fn a_png_label_reads_back_as_its_uri() {
    let dir = tempfile::tempdir().unwrap();
    let label = dir.path().join("label.png");
    let out = tally(&["qr", URI, "-o", label.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(read_label(&label), URI);
    // Written again over the old label, at another size.
    let out = tally(&["qr", URI, "-o", label.to_str().unwrap(), "--module", "3"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(read_label(&label), URI);
}

#[test]
fn an_svg_label_is_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let label = dir.path().join("label.svg");
    let out = tally(&["qr", URI, "-o", label.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let svg = std::fs::read_to_string(&label).unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    assert!(svg.contains("<path"), "{svg}");
}

#[test]
fn what_is_not_a_digital_link_or_a_known_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let label = dir.path().join("label.png");
    for bad in [
        "https://tally.example.com/01/09506000134353/21/C2M-0001",
        "not a uri",
        "https://tally.example.com/21/C2M-0001",
    ] {
        let out = tally(&["qr", bad, "-o", label.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{bad}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("is not a GS1 Digital Link URI"), "{stderr}");
        assert!(!label.exists());
    }
    let out = tally(&[
        "qr",
        URI,
        "-o",
        dir.path().join("label.gif").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".png or .svg"));
}
