# SPDX-License-Identifier: MIT
# Tests beyond the cmocka unit tests: the PyTorch reference (tests/reference/),
# training/eval runs, bad input, faults, SLURM, the install tree. Each is a
# script of tests/ (they share tests/lib.sh) registered with swat_add_test()
# (CMakeLists.txt), which gives it the MPI launcher and the Python of this
# build in its environment. Labels: unit, mpi, e2e, slow, build (see there).
add_executable(swat-refdump tests/swat_refdump.c)
target_link_libraries(swat-refdump PRIVATE swat)

set(B ${CMAKE_BINARY_DIR})

# Older form, kept while branches that use it land; tells them to convert.
function(swat_script_test name timeout)
  message(AUTHOR_WARNING "swat_script_test(${name}): use swat_add_test(${name} LABELS … TIMEOUT ${timeout} COMMAND …)")
  swat_add_test(${name} LABELS e2e TIMEOUT ${timeout} COMMAND ${ARGN})
endfunction()

# the reference itself against a loop-by-loop transcription of the maths, and
# its checkers failing on perturbed and buggy dumps (no C program involved)
swat_add_test(reference_selftest LABELS unit COMMAND ${SWAT_PYTHON} tests/reference/selftest.py --quick NEEDS)

# one rank, every attention variant
swat_add_test(reference_sigmoid_balanced LABELS e2e COMMAND tests/run_reference.sh ${B} 1)
swat_add_test(reference_softmax_untied LABELS e2e COMMAND tests/run_reference.sh ${B} 1
  --set model.attention=softmax --set model.tie_word_embeddings=false --set model.alibi=negative)
swat_add_test(reference_sigmoid_bias_norope LABELS e2e COMMAND tests/run_reference.sh ${B} 1
  --set model.rope=false --set model.sigmoid_bias=-1.5 --set model.alibi=positive
  --set data.shuffle=false --set train.lr_schedule=constant)
swat_add_test(reference_full_causal LABELS e2e COMMAND tests/run_reference.sh ${B} 1
  --set model.window_size=0 --set model.alibi=none --set train.micro_batch=1)
# the ALiBi magnitude families on the signs that do not default to them
swat_add_test(reference_balanced_alibi_sizes LABELS e2e COMMAND tests/run_reference.sh ${B} 1
  --set model.alibi_magnitudes=alibi)
swat_add_test(reference_negative_halving LABELS e2e COMMAND tests/run_reference.sh ${B} 1
  --set model.attention=softmax --set model.alibi=negative --set model.alibi_magnitudes=halving)
# the reference itself against a loop-by-loop transcription of the maths, and
# its checkers failing on perturbed and buggy dumps
# the sequence-parallel and data-parallel layouts against the same reference
swat_add_test(reference_sp2 LABELS e2e mpi COMMAND tests/run_reference.sh ${B} 2 --set parallel.sp=2)
swat_add_test(reference_sp2_dp2 LABELS e2e mpi COMMAND tests/run_reference.sh ${B} 4
  --set parallel.sp=2 --set model.attention=softmax)

# [train] precision = bf16: the arithmetic against the reference in the same
# arithmetic (inputs of every product rounded), on oneDNN and on the emulated
# path (oneDNN told the CPU lacks bf16 instructions), sequence-parallel and
# softmax too; then loss tracking, resume across precisions, the warning
swat_add_test(reference_bf16 LABELS e2e COMMAND tests/run_reference.sh ${B} 1
  --set train.precision=bf16)
swat_add_test(reference_bf16_softmax_sp2 LABELS e2e mpi COMMAND tests/run_reference.sh ${B} 2
  --set train.precision=bf16 --set parallel.sp=2 --set model.attention=softmax
  --set model.tie_word_embeddings=false)
swat_add_test(reference_bf16_emulated LABELS e2e ENV ONEDNN_MAX_CPU_ISA=AVX512_CORE
  COMMAND tests/run_reference.sh ${B} 1 --set train.precision=bf16)
swat_add_test(parallel_sp2_bf16 LABELS e2e mpi COMMAND tests/run_parallel.sh ${B} 2 "parallel.sp=2"
  --set train.precision=bf16)
swat_add_test(resume_exact_bf16 LABELS e2e COMMAND tests/run_resume.sh ${B} 1 - 1 -
  --set train.precision=bf16)
swat_add_test(bf16 LABELS e2e slow TIMEOUT 600 COMMAND tests/run_bf16.sh ${B})

# sequence/data parallel layouts equal the one-rank run (and repeat bit for bit)
swat_add_test(parallel_sp2 LABELS e2e mpi COMMAND tests/run_parallel.sh ${B} 2 "parallel.sp=2")
swat_add_test(parallel_dp2 LABELS e2e mpi COMMAND tests/run_parallel.sh ${B} 2 "parallel.sp=1")
swat_add_test(parallel_sp4 LABELS e2e mpi COMMAND tests/run_parallel.sh ${B} 4 "parallel.sp=4"
  --set model.attention=softmax)
swat_add_test(parallel_sp2_dp2 LABELS e2e mpi COMMAND tests/run_parallel.sh ${B} 4 "parallel.sp=2")
swat_add_test(parallel_sp2_recompute LABELS e2e mpi COMMAND tests/run_parallel.sh ${B} 2
  "parallel.sp=2" --set train.recompute=true)
swat_add_test(parallel_sp2_chunk_gt_window LABELS e2e mpi COMMAND tests/run_parallel.sh ${B} 2
  "parallel.sp=2" --set model.window_size=4 --set train.micro_batch=1)

# end to end: training until the loss falls, checkpoints, metrics, swat-eval
# against the reference at the training length and 8x it
swat_add_test(train_eval_np1 LABELS e2e COMMAND tests/run_train_eval.sh ${B} 1)
swat_add_test(train_eval_sp2 LABELS e2e mpi COMMAND tests/run_train_eval.sh ${B} 2 "parallel.sp=2")

# exact resume (bit for bit on the same layout) and resharding to others
swat_add_test(resume_exact_np1 LABELS e2e mpi COMMAND tests/run_resume.sh ${B} 1 - 1 -)
swat_add_test(resume_exact_sp2_dp2 LABELS e2e mpi oversubscribed COMMAND tests/run_resume.sh ${B} 4 "parallel.sp=2" 4 "parallel.sp=2")
swat_add_test(reshard_2_to_1 LABELS e2e mpi COMMAND tests/run_resume.sh ${B} 2 "parallel.sp=2" 1 -)
swat_add_test(reshard_1_to_4 LABELS e2e mpi COMMAND tests/run_resume.sh ${B} 1 - 4 "parallel.sp=4")
swat_add_test(reshard_sp2dp2_to_sp4 LABELS e2e mpi oversubscribed COMMAND tests/run_resume.sh ${B} 4 "parallel.sp=2" 4 "parallel.sp=4")

# the bucketed ZeRO-1 update: overlapped = after the passes = a progress
# thread, bit for bit; vs MPI's unbucketed collectives to float rounding; the
# collectives once per update with micro-batches (2, 3 and 4 ranks: recursive
# halving/doubling and the ring); bf16 on the wire: exact for the parameters
# of a bf16 run, its checkpoints and their eval, the gradients' loss
# tracking, the bytes; exact resume after bf16-wire updates
swat_add_test(overlap_dp2 LABELS e2e mpi COMMAND tests/run_overlap.sh ${B} 2 "parallel.sp=1")
swat_add_test(overlap_sp2_dp2 LABELS e2e mpi oversubscribed COMMAND tests/run_overlap.sh ${B} 4 "parallel.sp=2")
swat_add_test(overlap_dp3 LABELS e2e mpi oversubscribed COMMAND tests/run_overlap.sh ${B} 3 "parallel.sp=1"
  --set data.batch_size=6)
swat_add_test(wire_dp2 LABELS e2e mpi COMMAND tests/run_wire.sh ${B} 2 "parallel.sp=1" "1 2 4")
swat_add_test(wire_grad_dp2 LABELS e2e mpi COMMAND tests/run_wire.sh ${B} 2 "parallel.sp=1" "3 5")
# the embedding on the bf16 wire: 2 ranks = 1 rank (both read bf16-rounded rows)
swat_add_test(parallel_dp2_embed_wire LABELS e2e mpi COMMAND tests/run_parallel.sh ${B} 2 "parallel.sp=1"
  --set train.precision=bf16 --set parallel.param_wire=bf16 --set parallel.embed_wire=bf16
  --set parallel.bucket_mb=0.02)
swat_add_test(resume_exact_wire_dp2 LABELS e2e mpi COMMAND tests/run_resume.sh ${B} 2 "parallel.sp=1"
  2 "parallel.sp=1" --set train.precision=bf16 --set parallel.param_wire=bf16
  --set parallel.grad_wire=bf16 --set parallel.embed_wire=bf16 --set parallel.bucket_mb=0.02)
swat_add_test(resume_exact_wire_sp2_dp2 LABELS e2e mpi oversubscribed COMMAND tests/run_resume.sh ${B} 4
  "parallel.sp=2" 4 "parallel.sp=2" --set train.precision=bf16 --set parallel.param_wire=bf16
  --set parallel.bucket_mb=0.02 --set parallel.progress=thread)

# every program's command line: --help, --version, --opt=value, --print-config, swat-bench
swat_add_test(cli LABELS e2e mpi COMMAND tests/run_cli.sh ${B})
# the repository refers to nothing outside it (no outside document's sections,
# no sibling folders, no paths of a development machine)
swat_add_test(self_contained LABELS unit TIMEOUT 60 COMMAND tests/run_self_contained.sh NEEDS)

# docs/config.md's key tables are the key table of src/config.c (tools/config_doc.sh regenerates them)
swat_add_test(config_doc LABELS unit TIMEOUT 60 COMMAND tools/config_doc.sh --check ${B} NEEDS swat-train)

# bad input of every kind: one line, non-zero exit, no checkpoint
swat_add_test(bad_input LABELS e2e mpi TIMEOUT 600 COMMAND tests/run_bad_input.sh ${B})

# streaming evaluation (--seq-len whole, --positions) and swat-generate: against
# the reference, deterministic, flat memory, bad input
swat_add_test(stream_generate LABELS e2e mpi COMMAND tests/run_stream_generate.sh ${B})

# text to tokens and back: swat-tokenize against python3-sentencepiece, 1 vs 3
# ranks byte-identical, checkpoints carrying the tokenizer, bits per byte,
# streamed UTF-8 generation, no shard left after SIGTERM
swat_add_test(tokenize LABELS e2e mpi TIMEOUT 600 COMMAND tests/run_tokenize.sh ${B})
# jobs/tokenize.sbatch on a real single-node SLURM: train job, encode on 3
# tasks = 1 rank, scancel mid-encode leaves nothing
swat_add_test(slurm_tokenize LABELS e2e slow TIMEOUT 600 COMMAND tests/run_tokenize_slurm.sh ${B})
set_tests_properties(slurm_tokenize PROPERTIES RUN_SERIAL TRUE)

# the ablation tools at toy size: run_ablations.sh (two variants, idempotent), ablation_report.py (table, PNGs)
swat_add_test(ablation_report LABELS e2e TIMEOUT 120 COMMAND tests/run_ablation_report.sh ${B})

# no silent oversubscription: ranks per node x threads against the node's CPUs
# (Open MPI only: --bind-to none gives every rank every CPU)
swat_add_test(threads LABELS e2e TIMEOUT 300 COMMAND tests/run_threads.sh ${B})

# export to config.json + safetensors and back, the PyTorch model for users
# (tools/swat_export.py, tools/swat_import.py, python/swat_torch)
swat_add_test(export LABELS e2e TIMEOUT 600 COMMAND tests/run_export.sh ${B})

# faults: NaN (stop/skip), disk full, read-only run dir, a rank killed (root: mounts tmpfs);
# needs the hooks of include/swat/faults.h (SWAT_FAULTS, on in test builds)
if(SWAT_FAULTS)
  swat_add_test(faults LABELS e2e mpi TIMEOUT 600 COMMAND tests/run_faults.sh ${B})
endif()

# a real single-node SLURM: requeue on the time-limit signal, resume, scancel, sweep
swat_add_test(slurm LABELS e2e slow TIMEOUT 900 COMMAND tests/slurm/run_slurm_test.sh ${B})
set_tests_properties(slurm PROPERTIES RUN_SERIAL TRUE)

# the build itself: cmake/FindBLIS.cmake takes BLIS from BLIS_ROOT, pkg-config
# or the default places; `cmake --install` gives programs that run from the
# prefix, with the configs, job scripts and tools under share/swat
swat_add_test(find_blis LABELS build TIMEOUT 120 COMMAND tests/run_find_blis.sh ${B} NEEDS)
swat_add_test(install LABELS build TIMEOUT 120 COMMAND tests/run_install.sh ${B} NEEDS swat-programs)

# a real two-node SLURM built from network namespaces: a 2-node job equals the
# 1-node run bit for bit, a rank and a node die mid-run, bad host lists,
# layouts and MPI-IO hints (~3 min on an idle machine; slow)
swat_add_test(slurm_multinode LABELS e2e slow TIMEOUT 1200 COMMAND tests/slurm/run_multinode_test.sh ${B})
set_tests_properties(slurm_multinode PROPERTIES RUN_SERIAL TRUE)
