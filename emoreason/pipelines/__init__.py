"""The pipelines, from media to results (docs/architecture.md follows each one file by file):

- ``image``: photos -> faces, AUs, quality -> Evidence -> reasoner -> one JSON line per photo (`emoreason analyze`);
- ``video``: a video -> face tracks, speech and prosody -> windowed Evidence -> reasoner -> segments and a caption;
  its speech is read in ``video_speech``, its faces in ``video_faces``, its windows planned in ``windows``;
  ``read_ahead`` overlaps decoding, the landmarker and the reading in threads (photos and video frames);
- ``timeline``: a video's segments -> the emotion timeline and the plain-language caption;
- ``inputs``: what a batch run reads (files, folders, globs, manifests);
- ``caption``: the resumable batch captioner over many videos; ``caption_engines`` runs them (local processes or Ray).
"""

MAX_FACES = 16  # faces read per photo or tracked per video frame (analyze, caption, chat, serve: --max-faces)
