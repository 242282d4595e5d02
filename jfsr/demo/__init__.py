r"""A page to restore faces in a photo or a short video with a jfsr model, served by
:mod:`jfsr.demo.server`.

    python -m jfsr.demo                        # the default shipped models, http://127.0.0.1:7860
    python -m jfsr.demo --model NAME --port 8000
    python -m jfsr.demo --onnx g.onnx          # the generator in onnxruntime

Drop a file on the page: it shows the input, what the model saw, bicubic and the restored
result side by side, says which faces were restored (by which model, where the default
models restore each face by its size) and which left as they were, and offers the result
for download. The models are loaded once; one file is restored at a time (others
wait their turn while the page stays responsive). The server binds to this computer only
(127.0.0.1) unless ``--host`` says otherwise: it has no authentication.
"""
