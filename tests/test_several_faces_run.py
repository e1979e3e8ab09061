"""A run on a video of two people says which one it lip-syncs (scan said so; the run did not),
and leaves the other person's pixels as they were."""
from __future__ import annotations

import subprocess

import numpy as np

from heygem_kernel import RunOptions, media, run


def _two_people(tmp_path, left, right):
    """talking_590 at 400 px beside talking_524 at 240 px (padded): 5 s, 640x400, her sound."""
    out = tmp_path / "two.mp4"
    subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-y", "-t", "5", "-i", str(left), "-t", "5",
                    "-i", str(right), "-filter_complex",
                    "[0:v]scale=400:400,setsar=1[a];[1:v]scale=240:240,setsar=1,pad=240:400:0:80[b];[a][b]hstack",
                    "-map", "0:a", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def test_a_run_on_two_people_notes_it_and_leaves_the_smaller_face_alone(tmp_path, clip_590, clip_524, speech_5s):
    video = _two_people(tmp_path, clip_590, clip_524)
    options = RunOptions(sync_check=False)
    first = run(speech_5s, video, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache", options=options)
    notes = [str(n) for n in first.extra["input_notes"]]
    several = [n for n in notes if n.startswith("several faces at 0.0-")]
    assert several == [n for n in notes if "several faces" in n] and len(several) == 1, notes
    assert several[0].endswith("s (lip-synced: the largest in the first frame with a face, followed from there)")
    # the cached analysis keeps the counts: a second run says it too
    again = run(speech_5s, video, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache", options=options)
    assert [str(n) for n in again.extra["input_notes"] if "several faces" in str(n)] == several
    # the larger face (left) is lip-synced, the smaller one (right) passes through as it was (5 s of
    # speech on 5 s of video: frame i of the output is frame i of the source)
    source = list(media.iter_frames(media.probe_video(video)))
    output = list(media.iter_frames(media.probe_video(first.output)))[:len(source)]

    def changed(a, b):   # the most changed pixels' difference (0-255): a mouth redrawn, not codec noise
        return float(np.percentile(np.abs(a.astype(int) - b).max(2), 99.5))
    left = max(changed(o[:, :400], s[:, :400]) for o, s in zip(output, source))
    right = max(changed(o[:, 400:], s[:, 400:]) for o, s in zip(output, source))
    print(f"most changed pixels: left {left:.0f}, right {right:.0f}")
    assert left > 3 * right and right < 20, (left, right)    # measured 86 and 13


def test_one_person_gets_no_several_faces_note(tmp_path, clip_590, speech_5s):
    result = run(speech_5s, clip_590, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    assert not any("several faces" in str(n) for n in result.extra["input_notes"])


def test_a_photo_of_two_people_says_so_without_times(tmp_path, clip_590, clip_524, speech_5s):
    """A photo has nothing to follow: its note names no times (helper 56: "several faces at 0.0 s
    (... followed from there)")."""
    from heygem_kernel.scan import scan_video
    photo = tmp_path / "two.png"
    subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-y", "-ss", "1", "-i", str(_two_people(tmp_path, clip_590,
                    clip_524)), "-frames:v", "1", str(photo)], check=True)
    line = "several faces in the photo (lip-synced: the largest)"
    assert line in scan_video(photo, samples=1).problems
    result = run(speech_5s, photo, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    assert [str(n) for n in result.extra["input_notes"] if "several faces" in str(n)] == [line]


def test_the_presenter_is_lip_synced_not_her_blurred_enlarged_copy(tmp_path, clip_590, speech_5s):
    """talking_590 at 360 px over the same video enlarged to 1280 px and blurred (a stage screen, a
    landscape layout's background). Before (helper 56): the larger, blurred face was tracked and
    lip-synced, the presenter passed through, and the run said "several faces". Now the copy (the
    presenter's 68-point shape, less detailed) is skipped and counted as the same person. A sharp
    copy is not skipped (the largest face is taken), and then still counts as a second face."""
    video = tmp_path / "stage.mp4"
    subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-y", "-t", "5", "-i", str(clip_590), "-filter_complex",
                    "[0:v]split[a][b];[a]scale=1280:1280,crop=1280:720:0:280,boxblur=8[bg];[b]scale=360:360[fg];"
                    "[bg][fg]overlay=880:330", "-map", "0:a", "-c:v", "libx264", "-crf", "14", "-pix_fmt", "yuv420p",
                    str(video)], check=True)
    result = run(speech_5s, video, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    assert not any("several faces" in str(n) for n in result.extra["input_notes"]), result.extra["input_notes"]
    source = list(media.iter_frames(media.probe_video(video)))
    output = list(media.iter_frames(media.probe_video(result.output)))[:len(source)]

    def changed(a, b):   # the most changed pixels' difference (0-255): a mouth redrawn, not codec noise
        return float(np.percentile(np.abs(a.astype(int) - b).max(2), 99.5))
    presenter = max(changed(o[330:690, 880:1240], s[330:690, 880:1240]) for o, s in zip(output, source))
    copy = max(changed(o[:, :860], s[:, :860]) for o, s in zip(output, source))
    print(f"most changed pixels: presenter {presenter:.0f}, blurred copy {copy:.0f}")
    assert presenter > 3 * copy and copy < 20, (presenter, copy)
    from heygem_kernel.scan import scan_video
    sharp = tmp_path / "sharp.png"                 # not blurred: more detail than the presenter, not skipped
    subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-y", "-ss", "1", "-i", str(clip_590), "-filter_complex",
                    "[0:v]split[a][b];[a]scale=1280:1280,crop=1280:720:0:280[bg];[b]scale=360:360[fg];"
                    "[bg][fg]overlay=880:330", "-frames:v", "1", str(sharp)], check=True)
    assert "several faces in the photo (lip-synced: the largest)" in scan_video(sharp, samples=1).problems


def test_a_copy_is_told_from_another_person_by_its_shape_and_blur(clip_590, clip_524):
    """The rule's two tests on real frames: the same 68-point shape (Procrustes distance, any
    position and scale) and less detail; another person's face is never a copy."""
    import cv2
    from heygem_kernel import detectors
    frame = next(media.iter_frames(media.probe_video(clip_590)))
    other = next(media.iter_frames(media.probe_video(clip_524)))
    det = detectors.get_detector("mediapipe")
    try:
        face = det.detect(frame)[0]
        blurred = cv2.blur(cv2.resize(frame, (900, 900)), (17, 17))
        copy = det.detect(blurred)[0]
        stranger = det.detect(other)[0]
    finally:
        det.close()
    assert detectors.shape_distance(face.landmarks, face.landmarks * 1.7 + 40) < 1e-4
    assert detectors.shape_distance(face.landmarks, copy.landmarks) < detectors.COPY_SHAPE_DISTANCE
    assert detectors.shape_distance(face.landmarks, stranger.landmarks) > detectors.COPY_SHAPE_DISTANCE
    sharp, soft = detectors.face_detail(frame, face.landmarks), detectors.face_detail(blurred, copy.landmarks)
    print(f"detail {sharp:.0f} vs blurred copy {soft:.0f}")
    assert sharp > detectors.COPY_BLUR_RATIO * soft


def test_a_detection_without_a_face_ends_a_stretch_of_several():
    """Full detections every 10 frames at 25 fps saw two faces at 0-0.8 s, none at 1.2 s (both off
    screen), two again at 1.6-2.0 s: two stretches. Before, a detection that found no face was
    stored as "no detection ran" and the note said one stretch, 0.0-2.0 s, over the empty frames."""
    from heygem_kernel.detectors import NOT_COUNTED
    from heygem_kernel.scan import several_faces
    faces = np.full(60, NOT_COUNTED, np.uint8)
    faces[[0, 10, 20]], faces[30], faces[[40, 50]] = 2, 0, 2
    assert str(several_faces(faces, 25.0)).startswith("several faces at 0.0-0.8, 1.6-2.0 s"), str(several_faces(faces, 25.0))
    faces[30] = 1                                   # one face there: also the end of a stretch
    assert str(several_faces(faces, 25.0)).startswith("several faces at 0.0-0.8, 1.6-2.0 s")
    assert several_faces(np.full(60, NOT_COUNTED, np.uint8), 25.0) is None


def test_choosing_among_faces_fits_each_face_once(tmp_path, clip_590, clip_524):
    """The first detection of a video with two faces counts them, chooses the presenter and tracks
    it with one landmark pass per face (before: each face once for the count and once for the
    choice, and the chosen one again for the result: 5 passes for 2 faces). Two people: the larger (left) is taken; the presenter over her
    enlarged, blurred copy: the presenter, and she is counted once."""
    from heygem_kernel.landmarks import FaceTracker
    stage = tmp_path / "stage.png"
    subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-y", "-ss", "1", "-i", str(clip_590), "-filter_complex",
                    "[0:v]split[a][b];[a]scale=1280:1280,crop=1280:720:0:280,boxblur=8[bg];[b]scale=360:360[fg];"
                    "[bg][fg]overlay=880:330", "-frames:v", "1", str(stage)], check=True)
    two = next(media.iter_frames(media.probe_video(_two_people(tmp_path, clip_590, clip_524))))
    staged = next(media.iter_frames(media.probe_video(stage)))
    for frame, faces_seen, chosen_x in ((two, 2, (0, 400)), (staged, 1, (880, 1240))):
        with FaceTracker(fps=25.0) as tracker:
            boxes = tracker.detector.boxes(frame, thorough=True)
            calls = []
            real = tracker.detector.landmarks
            tracker.detector.landmarks = lambda f, box: calls.append(box) or real(f, box)  # noqa: B023
            points = tracker.update(frame)
        assert len(boxes) == 2 and tracker.faces_seen == faces_seen, (boxes, tracker.faces_seen)
        assert len(calls) == len(boxes), calls                    # before: 5 (2 + 2 + 1)
        assert points is not None and chosen_x[0] <= float(np.median(points[:, 0])) <= chosen_x[1]
