"""Readers: images, DICOM (pydicom's real ultrasound files + generated ones), videos."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonomtl.data.io import (
    DicomCalibrationWarning,
    iter_video_frames,
    read_attention,
    read_dicom,
    read_frame,
    read_image,
    read_video_frame,
    video_info,
)
from sonomtl.data.manifest import FrameRecord
from sonomtl.errors import InputError


def _testdata(name: str) -> str:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)  # local look-up only (never get_testdata_files)
    if path is None:
        pytest.skip(f"pydicom test file {name} not bundled with this pydicom")
    return path


# ----------------------------------------------------------------------------- images


def test_png_8_and_16_bit_scale_to_0_255(tmp_path):
    grey8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(grey8).save(tmp_path / "g8.png")
    image = read_image(tmp_path / "g8.png")
    assert image.dtype == np.float32 and image.shape == (16, 16)
    np.testing.assert_array_equal(image, grey8.astype(np.float32))
    grey16 = np.array([[0, 257, 65535, 32768]], dtype=np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    np.testing.assert_allclose(read_image(tmp_path / "g16.png"),
                               [[0.0, 1.0, 255.0, 32768 * 255 / 65535]], rtol=1e-6)


def test_colour_images_become_the_mean_of_rgb(tmp_path):
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 30, 60, 210
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(rgb).save(tmp_path / "c.tiff")
    rgba = np.dstack([rgb, np.full((4, 5), 7, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "c_alpha.png")
    for name in ("c.png", "c.tiff", "c_alpha.png"):
        np.testing.assert_allclose(read_image(tmp_path / name), np.full((4, 5), 100.0))
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=95)
    np.testing.assert_allclose(read_image(tmp_path / "c.jpg"), 100.0, atol=3)
    rgb[1:3, 1:4] = (255, 0, 3)
    palette = Image.fromarray(rgb).quantize(colors=2)
    palette.save(tmp_path / "p.png")
    colours = np.asarray(palette.getpalette()[:6], dtype=np.float64).reshape(2, 3)
    expected = colours.mean(axis=1)[np.asarray(palette)]  # independent palette look-up
    np.testing.assert_allclose(read_image(tmp_path / "p.png"), expected, atol=1e-4)
    assert sorted(np.unique(expected)) == [86.0, 100.0]


def test_sononet_example_tiff_is_the_channel_mean(sononet_dir):
    path = sorted((sononet_dir / "example_images").glob("*.tiff"))[0]
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float64)
    image = read_image(path)
    assert image.shape == (735, 975)
    np.testing.assert_allclose(image, rgb.mean(axis=2), atol=1e-4)


@pytest.mark.parametrize("content", [b"", b"not an image at all", "truncated"])
def test_corrupt_or_truncated_images_name_the_file(tmp_path, content):
    path = tmp_path / "bad.png"
    if content == "truncated":
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_image(path)
    assert info.value.file == str(path)


def test_missing_image_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_image(tmp_path / "nope.png")


def test_attention_maps_from_npy_without_pickles(tmp_path):
    np.save(tmp_path / "a.npy", np.eye(3, dtype=np.float64)[None])
    np.testing.assert_array_equal(read_attention(tmp_path / "a.npy"), np.eye(3))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="obj.npy"):
        read_attention(tmp_path / "obj.npy")
    np.save(tmp_path / "nan.npy", np.full((2, 2), np.nan))
    with pytest.raises(InputError, match="NaN"):
        read_attention(tmp_path / "nan.npy")


def test_attention_maps_from_images_are_read_in_zero_to_one(tmp_path):
    # the same map as .npy, 8-bit PNG, 16-bit PNG and float TIFF gives the same targets
    from PIL import Image

    attention = np.zeros((4, 6), np.float32)
    attention[1, 2], attention[2, 3] = 1.0, 0.2
    np.save(tmp_path / "a.npy", attention)
    Image.fromarray(np.rint(attention * 255).astype(np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.rint(attention * 65535).astype(np.uint16)).save(tmp_path / "a16.png")
    Image.fromarray(attention, mode="F").save(tmp_path / "a.tiff")
    for name in ("a.npy", "a.png", "a16.png", "a.tiff"):
        np.testing.assert_allclose(read_attention(tmp_path / name), attention, atol=1 / 255,
                                   err_msg=name)


# ----------------------------------------------------------------------------- DICOM


def test_ybr_cine_frames_timing_and_out_of_frame_calibration():
    import cv2
    import pydicom
    from pydicom.pixels import pixel_array

    path = _testdata("examples_ybr_color.dcm")
    with pytest.warns(DicomCalibrationWarning, match="outside the 320x240 frame"):
        dicom = read_dicom(path)
    assert (dicom.n_frames, dicom.hw, dicom.photometric) == (30, (240, 320), "YBR_FULL_422")
    assert dicom.frame_time_ms == pytest.approx(33.333)
    assert dicom.timestamp_ms(3) == pytest.approx(99.999)
    # Region 84..595 x 31..414 does not fit 320x240: the calibration is reported, not used.
    assert dicom.region_outside_frame
    assert dicom.spacing_mm is None and dicom.spacing_source is None
    assert dicom.region_spacing_mm == pytest.approx((0.5104970559, 0.5104970559))
    # Grey = mean of RGB, with YBR -> RGB done independently by OpenCV (BT.601 full range).
    ybr = pixel_array(pydicom.dcmread(path), index=5, raw=True)
    rgb = cv2.cvtColor(np.ascontiguousarray(ybr[..., [0, 2, 1]]), cv2.COLOR_YCrCb2RGB)
    expected = rgb.astype(np.float64).mean(axis=2)
    frame = dicom.frame(5)
    assert frame.dtype == np.float32 and frame.shape == (240, 320)
    assert np.abs(frame - expected).max() <= 1.5
    assert frame.mean() > 1.0  # not a blank frame
    with pytest.raises(InputError, match="frame 30 out of range"):
        dicom.frame(30)


def test_out_of_frame_calibration_can_be_trusted_explicitly():
    path = _testdata("examples_ybr_color.dcm")
    with pytest.warns(DicomCalibrationWarning, match="using it anyway"):
        dicom = read_dicom(path, trust_out_of_frame_regions=True)
    assert dicom.spacing_mm == pytest.approx((0.5104970559, 0.5104970559))
    assert dicom.spacing_source == "SequenceOfUltrasoundRegions"


def test_palette_colour_is_looked_up_then_averaged():
    import pydicom

    path = _testdata("examples_palette.dcm")
    ds = pydicom.dcmread(path)
    with pytest.warns(DicomCalibrationWarning):
        image = read_dicom(path).frame(0)
    # Independent look-up: 16-bit LUT entries indexed by the stored value.
    first = int(ds.RedPaletteColorLookupTableDescriptor[1])
    luts = [np.frombuffer(getattr(ds, f"{c}PaletteColorLookupTableData"), dtype="<u2")
            for c in ("Red", "Green", "Blue")]
    index = np.clip(ds.pixel_array.astype(np.int64) - first, 0, len(luts[0]) - 1)
    expected = np.mean([lut[index] for lut in luts], axis=0) * 255.0 / 65535.0
    np.testing.assert_allclose(image, expected, atol=1e-3)


def test_rgb_and_jpeg2k_single_frames():
    import pydicom

    rgb_path = _testdata("examples_rgb_color.dcm")
    dicom = read_dicom(rgb_path)
    assert (dicom.n_frames, dicom.spacing_mm, dicom.region_outside_frame) == (1, None, False)
    raw = pydicom.dcmread(rgb_path).pixel_array.astype(np.float64)
    np.testing.assert_allclose(dicom.frame(0), raw.mean(axis=2), atol=1e-4)
    j2k = read_dicom(_testdata("examples_jpeg2k.dcm")).frame(0)
    assert j2k.shape == (480, 640) and 0 <= j2k.min() and j2k.max() <= 255 and j2k.std() > 1


def write_dicom(path: Path, frames: np.ndarray, *, photometric: str = "MONOCHROME2",
                 pixel_spacing: list[float] | None = None, bits: int = 16,
                 frame_time_ms: float | None = None, signed: bool = False,
                 planar: int = 0, extra: dict | None = None) -> Path:
    """A native (uncompressed) multi-frame DICOM of ``(N, H, W)`` or ``(N, H, W, 3)`` frames."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # US multi-frame
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = frames.shape[1:3]
    ds.NumberOfFrames = frames.shape[0]
    colour = frames.ndim == 4
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = planar
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if signed else 0
    if pixel_spacing is not None:
        ds.PixelSpacing = pixel_spacing
    if frame_time_ms is not None:
        ds.FrameTime = frame_time_ms
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    stored = frames.transpose(0, 3, 1, 2) if colour and planar == 1 else frames
    dtype = {(8, False): np.uint8, (16, False): np.uint16, (8, True): np.int8,
             (16, True): np.int16}[bits, signed]
    ds.PixelData = np.ascontiguousarray(stored).astype(dtype).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_jpeg_dicom(path: Path, frames_rgb: np.ndarray) -> Path:
    """A JPEG baseline (YBR_FULL_422) multi-frame DICOM, one JPEG per frame (Pillow)."""
    import io

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit, generate_uid

    blobs = []
    for frame in frames_rgb:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=95)
        blobs.append(buffer.getvalue())
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.NumberOfFrames = len(frames_rgb)
    ds.Rows, ds.Columns = frames_rgb.shape[1:3]
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.FrameTime = 25.0
    ds.PixelData = encapsulate(blobs)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_generated_multiframe_dicom_with_pixel_spacing(tmp_path):
    frames = np.stack([np.full((6, 8), 1000 * (i + 1), np.uint16) for i in range(4)])
    frames[2, 0, 0] = 65535
    path = write_dicom(tmp_path / "cine.dcm", frames, pixel_spacing=[0.2, 0.3],
                        frame_time_ms=40.0)
    dicom = read_dicom(path)
    # PixelSpacing is (row, column) spacing = (y, x).
    assert dicom.spacing_mm == (0.3, 0.2) and dicom.spacing_source == "PixelSpacing"
    assert (dicom.n_frames, dicom.hw, dicom.timestamp_ms(2)) == (4, (6, 8), 80.0)
    image = dicom.frame(2)
    assert image[0, 0] == pytest.approx(255.0)
    assert image[1, 1] == pytest.approx(3000 * 255 / 65535, rel=1e-6)
    assert dicom.frames().shape == (4, 6, 8)


def test_monochrome1_is_inverted(tmp_path):
    frames = np.array([[[0, 255], [100, 200]]], dtype=np.uint8)
    path = write_dicom(tmp_path / "m1.dcm", frames, photometric="MONOCHROME1", bits=8)
    np.testing.assert_allclose(read_dicom(path).frame(0), [[255, 0], [155, 55]])


@pytest.mark.filterwarnings("ignore:Invalid value for VR IS")
def test_corrupt_truncated_and_non_dicom_files_name_the_file(tmp_path):
    frames = np.zeros((2, 16, 16), np.uint16)
    good = write_dicom(tmp_path / "good.dcm", frames)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(good.read_bytes()[:-300])
    with pytest.raises(InputError) as info:
        read_dicom(cut).frame(1)
    assert info.value.file == str(cut)
    not_dicom = tmp_path / "text.dcm"
    not_dicom.write_text("hello")
    with pytest.raises(InputError, match="text.dcm"):
        read_dicom(not_dicom)
    with pytest.raises(InputError, match="not found"):
        read_dicom(tmp_path / "missing.dcm")
    bad_count = tmp_path / "count.dcm"  # NumberOfFrames (0028,0008) IS "2 " -> "1A"
    element = b"\x28\x00\x08\x00IS\x02\x00"
    assert good.read_bytes().count(element + b"2 ") == 1
    bad_count.write_bytes(good.read_bytes().replace(element + b"2 ", element + b"1A"))
    with pytest.raises(InputError, match="expected a whole number, got '1A'") as info:
        read_dicom(bad_count)
    assert info.value.field == "NumberOfFrames" and info.value.file == str(bad_count)


def _dicom_cases(folder: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """Files of several encodings and their expected grey frames, from a full (non-streamed)
    pydicom decode with the documented conversion."""
    import pydicom
    from pydicom.pixels import convert_color_space

    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (5, 12, 10)).astype(np.uint8)
    rgb = rng.integers(0, 256, (5, 12, 10, 3)).astype(np.uint8)
    signed = rng.integers(-2000, 2000, (5, 12, 10)).astype(np.int16)
    smooth = np.zeros((4, 32, 48, 3), np.uint8)  # JPEG-friendly: a gradient and a moving box
    smooth[...] = np.linspace(0, 200, 48, dtype=np.uint8)[None, None, :, None]
    for t in range(4):
        smooth[t, 8:20, 4 + 6 * t:16 + 6 * t] = (220, 40, 40)
    paths = {
        "mono2": write_dicom(folder / "mono2.dcm", grey, bits=8, frame_time_ms=40.0),
        "mono1": write_dicom(folder / "mono1.dcm", grey, photometric="MONOCHROME1", bits=8),
        "signed16": write_dicom(folder / "s16.dcm", signed, bits=16, signed=True),
        "rgb_planar0": write_dicom(folder / "rgb0.dcm", rgb, photometric="RGB", bits=8),
        "rgb_planar1": write_dicom(folder / "rgb1.dcm", rgb, photometric="RGB", bits=8,
                                    planar=1),
        "ybr_full": write_dicom(folder / "ybr.dcm",
                                 convert_color_space(rgb.copy(), "RGB", "YBR_FULL"),
                                 photometric="YBR_FULL", bits=8),
        "jpeg_ybr_full_422": write_jpeg_dicom(folder / "jpeg.dcm", smooth),
    }
    cases = {}
    for name, path in paths.items():
        whole = pydicom.dcmread(path).pixel_array.astype(np.float64)  # every frame at once
        if whole.ndim == 4:
            expected = whole.mean(axis=3)  # YBR is converted to RGB by pydicom
        elif name == "signed16":
            expected = (whole + 32768) * 255 / 65535
        else:
            expected = whole if name == "mono2" else 255 - whole
        cases[name] = (path, expected)
    return cases


def test_streamed_frames_equal_the_whole_file_decode_for_every_encoding(tmp_path):
    for name, (path, expected) in _dicom_cases(tmp_path).items():
        dicom = read_dicom(path)
        streamed = list(dicom.iter_frames())
        assert len(streamed) == dicom.n_frames == len(expected), name
        for index, image in enumerate(streamed):
            assert image.dtype == np.float32 and image.shape == expected.shape[1:], name
            np.testing.assert_allclose(image, expected[index], atol=1e-3, err_msg=name)
            np.testing.assert_array_equal(dicom.frame(index), image, err_msg=name)
    assert read_dicom(tmp_path / "mono2.dcm").timestamp_ms(4) == 160.0
    assert read_dicom(tmp_path / "jpeg.dcm").timestamp_ms(3) == 75.0


def test_dicom_frames_are_decoded_from_the_file_not_held_in_memory(tmp_path):
    import tracemalloc

    frames = np.zeros((120, 256, 256), np.uint8)
    frames[:, 50:100, 60:200] = np.arange(120, dtype=np.uint8)[:, None, None]
    path = write_dicom(tmp_path / "long.dcm", frames, bits=8)
    file_bytes = path.stat().st_size
    frame_bytes = 256 * 256 * 4  # one float32 grey frame
    read_dicom(path).frame(0)  # imports and decoder set-up outside the measurement
    tracemalloc.start()
    try:
        dicom = read_dicom(path)
        header_peak = tracemalloc.get_traced_memory()[1]
        assert float(dicom.frame(77)[60, 100]) == 77.0
        random_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert file_bytes > 7_800_000
    assert header_peak < 100_000  # the header only, not the 7.8 MB of pixels
    assert random_peak < 2 * frame_bytes


def test_rescale_slope_keeps_or_inverts_the_grey_image(tmp_path):
    frames = np.array([[[0, 255], [100, 200]]], dtype=np.uint8)
    kept = write_dicom(tmp_path / "positive.dcm", frames, bits=8,
                        extra={"RescaleSlope": 2.0, "RescaleIntercept": 10.0})
    inverted = write_dicom(tmp_path / "negative.dcm", frames, bits=8,
                            extra={"RescaleSlope": -1.0, "RescaleIntercept": 255.0})
    np.testing.assert_allclose(read_dicom(kept).frame(0), [[0, 255], [100, 200]])
    np.testing.assert_allclose(read_dicom(inverted).frame(0), [[255, 0], [155, 55]])


def test_dicom_without_pixel_data_is_refused_when_opened(tmp_path):
    import pydicom

    path = write_dicom(tmp_path / "d.dcm", np.zeros((2, 4, 4), np.uint8), bits=8)
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(tmp_path / "no_pixels.dcm", enforce_file_format=True)
    with pytest.raises(InputError, match="no_pixels.dcm: DICOM file holds no image"):
        read_dicom(tmp_path / "no_pixels.dcm")


# ----------------------------------------------------------------------------- video


def _write_video(path: Path, n_frames: int, *, codec: str, fps: int = 25,
                 gop: int = 10) -> Path:
    """Frame i is flat grey 20 + 5 i, so the decoded mean identifies the frame."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = 64, 48
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        stream.gop_size = gop
        stream.bit_rate = 4_000_000  # flat frames stay within a grey level or two
        for i in range(n_frames):
            rgb = np.full((48, 64, 3), 20 + 5 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize(("codec", "suffix"), [("mpeg4", "mp4"), ("mjpeg", "avi")])
def test_video_frames_come_with_index_and_timestamp(tmp_path, codec, suffix):
    path = _write_video(tmp_path / f"clip.{suffix}", 30, codec=codec)
    info = video_info(path)
    assert (info.hw, info.n_frames, info.fps) == ((48, 64), 30, 25.0)
    frames = list(iter_video_frames(path, start=5, stop=9))
    assert [f.index for f in frames] == [5, 6, 7, 8]
    assert [f.timestamp_ms for f in frames] == pytest.approx([200, 240, 280, 320])
    assert [round(float(f.image.mean()) / 5) * 5 for f in frames] == [45, 50, 55, 60]


def test_seeking_returns_the_requested_frame(tmp_path):
    path = _write_video(tmp_path / "clip.mp4", 40, codec="mpeg4", gop=7)
    for index in (0, 1, 13, 27, 39, 20, 6):
        frame = read_video_frame(path, index)
        assert frame.index == index
        assert frame.timestamp_ms == pytest.approx(40.0 * index)
        assert abs(float(frame.image.mean()) - (20 + 5 * index)) < 2.5
    with pytest.raises(InputError, match="beyond the end"):
        read_video_frame(path, 40)


def test_corrupt_and_truncated_videos_name_the_file(tmp_path):
    path = _write_video(tmp_path / "clip.mp4", 20, codec="mpeg4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100 + b"garbage")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    for broken in (bad, cut):
        with pytest.raises(InputError) as info:
            read_video_frame(broken, 15)
        assert info.value.file == str(broken)


# ----------------------------------------------------------------------------- manifest rows


def test_read_frame_for_image_video_and_dicom_rows(tmp_path):
    Image.fromarray(np.full((5, 7), 9, np.uint8)).save(tmp_path / "a.png")
    _write_video(tmp_path / "v.avi", 12, codec="mjpeg")
    frames = np.stack([np.full((4, 4), 50 * (i + 1), np.uint8) for i in range(3)])
    write_dicom(tmp_path / "d.dcm", frames, bits=8, pixel_spacing=[0.5, 0.25])
    image, spacing = read_frame(tmp_path, FrameRecord(row=2, subject="s", image="a.png",
                                                      spacing_mm=(0.1, 0.1)))
    assert image.shape == (5, 7) and image[0, 0] == 9 and spacing == (0.1, 0.1)
    image, spacing = read_frame(tmp_path, FrameRecord(row=3, subject="s", video="v.avi",
                                                      frame=10))
    assert abs(float(image.mean()) - 70) < 2.5 and spacing is None
    image, spacing = read_frame(tmp_path, FrameRecord(row=4, subject="s", video="d.dcm",
                                                      frame=2))
    assert image[0, 0] == 150 and spacing == (0.25, 0.5)  # from the file's PixelSpacing
    _, spacing = read_frame(tmp_path, FrameRecord(row=4, subject="s", video="d.dcm", frame=1,
                                                  spacing_mm=(0.7, 0.7)))
    assert spacing == (0.7, 0.7)  # the manifest wins


def test_read_frame_errors_name_the_manifest_row(tmp_path):
    with pytest.raises(InputError) as info:
        read_frame(tmp_path, FrameRecord(row=7, subject="s", image="missing.png"))
    assert (info.value.row, info.value.field, info.value.file) == (
        7, "image", str(tmp_path / "missing.png"))
    frames = np.zeros((2, 4, 4), np.uint8)
    write_dicom(tmp_path / "d.dcm", frames, bits=8)
    with pytest.raises(InputError) as info:
        read_frame(tmp_path, FrameRecord(row=9, subject="s", video="d.dcm", frame=5))
    assert (info.value.row, info.value.field) == (9, "frame")


def test_ybr_cine_in_a_dataset_row_has_no_spacing_unless_the_manifest_gives_it(tmp_path):
    import shutil

    shutil.copy(_testdata("examples_ybr_color.dcm"), tmp_path / "cine.dcm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomCalibrationWarning)
        image, spacing = read_frame(tmp_path, FrameRecord(row=2, subject="s", video="cine.dcm",
                                                          frame=29))
    assert image.shape == (240, 320) and spacing is None
