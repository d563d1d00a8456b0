#!/usr/bin/env python3
"""Hand-run test of tools/convert_checkpoint.py (needs torch and the reference; not part of CI):

    MCVD_REFERENCE=/path/to/mcvd-pytorch python3 tools/tests/test_convert_checkpoint.py

Saves a checkpoint the way the reference's runner does (DataParallel state_dict, optimizer, epoch,
step, EMA shadow; config.yml dumped from an argparse.Namespace beside it), converts it, and checks
names, EMA selection and that the converted model reproduces the reference's EMA forward exactly.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import unittest

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)
import mcvd_reference as mr  # noqa: E402

FIXTURE = os.path.join(REPO, "Tests", "UNetTests", "Fixtures", "tiny-concat", "model.safetensors")


class ConvertCheckpointTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import torch
        import yaml
        cls.reference = os.environ.get("MCVD_REFERENCE")
        if not cls.reference:
            raise unittest.SkipTest("set MCVD_REFERENCE to a checkout of mcvd-pytorch")
        ref = mr.import_reference(cls.reference)
        from models.ema import EMAHelper  # the reference's own EMA helper

        _, config = mr.load_safetensors(FIXTURE)
        cls.config = config
        torch.manual_seed(7)
        net = torch.nn.DataParallel(mr.build_model(ref, config))
        ema = EMAHelper(mu=0.9)
        ema.register(net)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        with torch.no_grad():  # move the weights so EMA and raw weights differ
            for p in net.parameters():
                p.add_(0.01 * torch.randn_like(p))
        ema.update(net)

        cls.dir = tempfile.mkdtemp(prefix="convert-test-")
        cls.checkpoint = os.path.join(cls.dir, "checkpoint_1234.pt")
        torch.save([net.state_dict(), optimizer.state_dict(), 3, 1234, ema.state_dict()], cls.checkpoint)
        # The reference dumps its config as a Namespace (python object tags included).
        model_cfg = {k: v for k, v in config["model"].items() if k not in mr.FIXED_MODEL}
        dumped = mr.namespace({"model": model_cfg, "data": config["data"], "training": {"batch_size": 4}})
        dumped.device = torch.device("cpu")
        with open(os.path.join(cls.dir, "config.yml"), "w") as f:
            yaml.dump(dumped, f, default_flow_style=False)

        cls.raw_state = {k[len("module."):]: v.clone() for k, v in net.state_dict().items()}
        ema.ema(net)  # the reference's sampling path: copy EMA weights into the model
        cls.ema_net = net.module
        cls.ema_state = {k: v.clone() for k, v in net.module.state_dict().items()}
        cls.ref = ref

    def run_tool(self, *args):
        result = subprocess.run([sys.executable, os.path.join(TOOLS, "convert_checkpoint.py"), *args],
                                capture_output=True, text=True, env={**os.environ, "MCVD_REFERENCE": ""})
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def test_ema_weights_and_forward(self):
        import torch
        out = os.path.join(self.dir, "ema.safetensors")
        self.run_tool(self.checkpoint, out, "--reference", self.reference)
        tensors, config = mr.load_safetensors(out)
        _, metadata = mr.read_safetensors(out)
        self.assertEqual(metadata["weights"], "ema")
        self.assertEqual(metadata["step"], "1234")
        self.assertEqual(sorted(tensors), sorted(self.ema_state))
        self.assertFalse(any(k.startswith("module.") for k in tensors))
        for k, v in self.ema_state.items():
            self.assertTrue(torch.equal(tensors[k], v.float()), k)
        self.assertEqual(config["model"]["ngf"], self.config["model"]["ngf"])
        self.assertEqual(config["data"], self.config["data"])
        self.assertEqual(config["diffusion"]["schedule"], "linear")

        net = mr.build_model(self.ref, config)
        net.load_state_dict(tensors, strict=True)
        x_shape, cond_shape = mr.input_shapes(config, 2)
        g = torch.Generator().manual_seed(3)
        x, cond = torch.randn(x_shape, generator=g), torch.randn(cond_shape, generator=g)
        t = torch.tensor([5, 900])
        with torch.no_grad():
            self.assertTrue(torch.equal(net(x, t, cond=cond), self.ema_net.eval()(x, t, cond=cond)))

    def test_no_ema_and_f16(self):
        import torch
        out = os.path.join(self.dir, "raw.safetensors")
        self.run_tool(self.checkpoint, out, "--no-ema", "--dtype", "F16", "--config", os.path.join(self.dir, "config.yml"))
        tensors, _ = mr.load_safetensors(out)
        name = "unet.all_modules.2.weight"
        self.assertEqual(tensors[name].dtype, torch.float16)
        self.assertTrue(torch.equal(tensors[name], self.raw_state[name].half()))
        self.assertFalse(torch.equal(tensors[name].float(), self.ema_state[name]))
        self.assertEqual(tensors["betas"].dtype, torch.float32)

    def test_missing_config_fails(self):
        lonely = os.path.join(tempfile.mkdtemp(prefix="convert-lonely-"), "checkpoint.pt")
        os.symlink(self.checkpoint, lonely)
        result = subprocess.run([sys.executable, os.path.join(TOOLS, "convert_checkpoint.py"), lonely,
                                 lonely + ".safetensors"], capture_output=True, text=True)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("config.yml", result.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference")
    known, rest = parser.parse_known_args()
    if known.reference:
        os.environ["MCVD_REFERENCE"] = known.reference
    unittest.main(argv=[sys.argv[0], *rest])
