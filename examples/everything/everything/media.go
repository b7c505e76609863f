package everything

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
)

// tinyPNG encodes a single red pixel as a PNG image.
func tinyPNG() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	img.SetNRGBA(0, 0, color.NRGBA{R: 0xE0, G: 0x20, B: 0x20, A: 0xFF})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		// Encoding an in-memory 1x1 image cannot fail.
		panic("everything: encoding PNG: " + err.Error())
	}
	return buf.Bytes()
}

// silentWAV returns a 10ms mono 16-bit PCM WAV file at 8kHz containing silence.
func silentWAV() []byte {
	const (
		sampleRate    = 8000
		channels      = 1
		bitsPerSample = 16
		samples       = sampleRate / 100
		blockAlign    = channels * bitsPerSample / 8
		dataSize      = samples * blockAlign
	)
	var buf bytes.Buffer
	write := func(v any) { _ = binary.Write(&buf, binary.LittleEndian, v) }
	buf.WriteString("RIFF")
	write(uint32(36 + dataSize))
	buf.WriteString("WAVE")
	buf.WriteString("fmt ")
	write(uint32(16)) // size of the fmt chunk
	write(uint16(1))  // PCM
	write(uint16(channels))
	write(uint32(sampleRate))
	write(uint32(sampleRate * blockAlign)) // byte rate
	write(uint16(blockAlign))
	write(uint16(bitsPerSample))
	buf.WriteString("data")
	write(uint32(dataSize))
	buf.Write(make([]byte, dataSize))
	return buf.Bytes()
}
