#!/usr/bin/env bash
# Build the training image, push it to the stack's ECR repository, point the job definition at it
# and submit an AWS Batch job.
#
#   infra/submit_training.sh                 # CPU image, Fargate queue
#   infra/submit_training.sh --gpu           # GPU image, the optional EC2 GPU queue (EnableGpu=true)
#   infra/submit_training.sh -- --epochs 10  # anything after -- is passed to `python -m training_job`
#
# Needs: docker, the aws CLI v2 with credentials, and a deployed infra/training.yaml stack.
# Env: STACK (default catdog-training), AWS_REGION (default: the CLI's), TAG (default: git short SHA,
# plus a timestamp when the working tree has uncommitted changes: ECR tags are immutable).
set -euo pipefail
SCRIPT="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SCRIPT")/.."

STACK="${STACK:-catdog-training}"
GPU=0
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --gpu) GPU=1; shift ;;
    --stack) STACK="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,12p' "$SCRIPT"; exit 0 ;;
    *) echo "submit_training.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

REGION="${AWS_REGION:-$(aws configure get region || true)}"
REGION="${REGION:-us-east-1}"
if [[ -z "${TAG:-}" ]]; then
  TAG="$(git rev-parse --short HEAD)"
  [[ -z "$(git status --porcelain)" ]] || TAG="$TAG-dirty-$(date -u +%Y%m%d%H%M%S)"
fi

output() {  # output <OutputKey>: one value from the training stack
  aws cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

REPO="$(output RepositoryUri)"
BUCKET="$(output BucketName)"
if [[ $GPU == 1 ]]; then
  IMAGE_TAG="$TAG-gpu"; TAG_PARAM=GpuImageTag; QUEUE_KEY=GpuJobQueue; JOBDEF_KEY=GpuJobDefinition
  BUILD_ARGS=(--build-arg "TF_PACKAGE=tensorflow[and-cuda]")  # version: constraints.txt
else
  IMAGE_TAG="$TAG"; TAG_PARAM=ImageTag; QUEUE_KEY=JobQueue; JOBDEF_KEY=JobDefinition
  BUILD_ARGS=()
fi
if [[ -z "$REPO" || "$REPO" == "None" ]]; then
  echo "submit_training.sh: no stack $STACK in $REGION (deploy infra/training.yaml first, see README)" >&2
  exit 1
fi

if aws ecr describe-images --region "$REGION" --repository-name "${REPO#*/}" \
     --image-ids "imageTag=$IMAGE_TAG" >/dev/null 2>&1; then
  echo "==> $REPO:$IMAGE_TAG already pushed (tags are immutable): reusing it"
else
  echo "==> building $REPO:$IMAGE_TAG"
  docker build -f training_job/Dockerfile "${BUILD_ARGS[@]}" -t "$REPO:$IMAGE_TAG" .
  echo "==> pushing to ECR"
  aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "${REPO%%/*}"
  docker push "$REPO:$IMAGE_TAG"
fi

echo "==> pointing the job definition at $IMAGE_TAG (a new revision; other parameters keep their values)"
aws cloudformation deploy --region "$REGION" --stack-name "$STACK" --template-file infra/training.yaml \
  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset --parameter-overrides "$TAG_PARAM=$IMAGE_TAG"

QUEUE="$(output "$QUEUE_KEY")"
JOBDEF="$(output "$JOBDEF_KEY")"
if [[ -z "$QUEUE" || "$QUEUE" == "None" ]]; then
  echo "submit_training.sh: stack $STACK has no $QUEUE_KEY output (deploy it with EnableGpu=true for --gpu)" >&2
  exit 1
fi

RUN="$(date -u +%Y%m%d-%H%M%S)-$TAG"
OVERRIDES="{\"environment\": [{\"name\": \"OUTPUT_URI\", \"value\": \"s3://$BUCKET/models/candidates/$RUN/\"}]"
if [[ ${#EXTRA[@]} -gt 0 ]]; then
  CMD=$(printf '"%s",' "${EXTRA[@]}")
  OVERRIDES="$OVERRIDES, \"command\": [${CMD%,}]"
fi
OVERRIDES="$OVERRIDES}"

echo "==> submitting $RUN to $QUEUE"
JOB_ID="$(aws batch submit-job --region "$REGION" --job-name "catdog-train-$RUN" --job-queue "$QUEUE" \
  --job-definition "$JOBDEF" --container-overrides "$OVERRIDES" --tags "image=$IMAGE_TAG" \
  --query jobId --output text)"
echo "job $JOB_ID submitted"
echo "  artifacts -> s3://$BUCKET/models/candidates/$RUN/"
echo "  published -> s3://$BUCKET/models/latest.json (only if it passes the MinAccuracy gate)"
echo "follow it:  aws logs tail $(output LogGroup) --follow --region $REGION"
echo "status:     aws batch describe-jobs --jobs $JOB_ID --query 'jobs[0].status' --region $REGION"
