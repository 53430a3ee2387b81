//! Placeholder (piece "media"): Annex B split, AVCDecoderConfigurationRecord, AVCC frames.
