"""Perception: media decoding, faces, landmarks, blendshapes, AU estimators, speech and prosody."""
