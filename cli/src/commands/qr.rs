//! `tally qr URI -o label.png|label.svg`: the QR label of a product's GS1 Digital Link, which a
//! consumer scans to open the node's provenance page.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode};
use tally_sdk::gs1::digital_link::{DigitalLink, ParseOptions};

use crate::files;

/// Blank modules around the code, as the QR standard asks.
const QUIET_ZONE: usize = 4;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The product's GS1 Digital Link URI on the node that answers for it, e.g.
    /// `https://tally.example.com/01/09506000134352/21/C2M-0001`.
    pub uri: String,
    /// Where to write the label: `.png` or `.svg`.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Pixels per module (PNG), or the minimum size in pixels of a module (SVG).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub module: u32,
}

pub fn run(args: Args) -> Result<()> {
    // A label must carry a link a resolver takes: strict Digital Link syntax, any host.
    DigitalLink::parse_with(&args.uri, &ParseOptions::STRICT)
        .with_context(|| format!("{:?} is not a GS1 Digital Link URI", args.uri))?;
    let code = qr_code(&args.uri)?;
    let extension = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let bytes = match extension.as_deref() {
        Some("svg") => code
            .render::<svg::Color<'_>>()
            .min_dimensions(args.module * 21, args.module * 21)
            .quiet_zone(true)
            .build()
            .into_bytes(),
        Some("png") => png_of(&code, args.module as usize)?,
        _ => bail!("{}: write the label as .png or .svg", args.out.display()),
    };
    files::write_output(Some(&args.out), &bytes)?;
    println!(
        "wrote the QR label of {} to {} ({} modules a side)",
        args.uri,
        args.out.display(),
        code.width()
    );
    Ok(())
}

fn qr_code(uri: &str) -> Result<QrCode> {
    // Level Q survives a quarter of the label damaged: labels get scuffed.
    QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::Q)
        .context("the URI does not fit in a QR code")
}

/// The PNG label of `uri`, `module` pixels per module (the demo's label of its sofa).
pub fn label_png(uri: &str, module: usize) -> Result<Vec<u8>> {
    png_of(&qr_code(uri)?, module)
}

/// A greyscale PNG: `module` pixels per module, with the quiet zone.
fn png_of(code: &QrCode, module: usize) -> Result<Vec<u8>> {
    let modules = code.width();
    let side = (modules + 2 * QUIET_ZONE) * module;
    let colors = code.to_colors();
    let mut pixels = vec![255u8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (x, y) = (index % modules + QUIET_ZONE, index / modules + QUIET_ZONE);
        for row in y * module..(y + 1) * module {
            let start = row * side + x * module;
            pixels[start..start + module].fill(0);
        }
    }
    let side_u32 = u32::try_from(side).context("the label is too large")?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side_u32, side_u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}
