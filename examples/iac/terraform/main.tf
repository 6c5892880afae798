# A Fargate service whose image Slipway owns. Terraform creates the service and its first
# revision and owns everything else; after that, which revision the service runs is Slipway's.
# See "Beside infrastructure as code" in Slipway's README.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "cluster_name" {
  type    = string
  default = "prod"
}

variable "service_name" {
  type    = string
  default = "web"
}

variable "subnets" {
  type = list(string)
}

variable "security_groups" {
  type = list(string)
}

variable "image" {
  type        = string
  description = "The first revision's image, pinned by digest (REPOSITORY@sha256:...). Slipway's rollouts replace it; Terraform reads it only when it creates (or is told to replace) the revision."

  validation {
    condition     = can(regex("@sha256:[0-9a-f]{64}$", var.image))
    error_message = "Pin the image by digest: REPOSITORY@sha256:..."
  }
}

data "aws_region" "current" {}

data "aws_ecs_cluster" "this" {
  cluster_name = var.cluster_name
}

locals {
  family = "${var.service_name}-${var.cluster_name}"
  container_definitions = [
    {
      name         = "app"
      image        = var.image
      essential    = true
      portMappings = [{ containerPort = 8080 }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.app.name
          awslogs-region        = data.aws_region.current.name
          awslogs-stream-prefix = "app"
        }
      }
    }
  ]
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/ecs/${var.cluster_name}/${var.service_name}"
  retention_in_days = 30
}

resource "aws_iam_role" "execution" {
  name_prefix = "${local.family}-exec-"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

# The family's first revision. Slipway registers the later ones as copies of the revision the
# service runs, changing only the image.
resource "aws_ecs_task_definition" "app" {
  family                   = local.family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = "512"
  execution_role_arn       = aws_iam_role.execution.arn
  container_definitions    = jsonencode(local.container_definitions)

  # A replaced or destroyed revision stays ACTIVE, so it can still be a rollback target.
  skip_destroy = true

  lifecycle {
    # The image in this JSON is the first revision's: Terraform cannot ignore one key inside
    # it, so the whole document is ignored, and a new var.image never registers a revision
    # that nobody runs. To change the containers' settings, replace the revision on purpose
    # (README: "Beside infrastructure as code").
    ignore_changes = [container_definitions]
  }
}

resource "aws_ecs_service" "app" {
  name            = var.service_name
  cluster         = data.aws_ecs_cluster.this.arn
  launch_type     = "FARGATE"
  desired_count   = 2
  task_definition = aws_ecs_task_definition.app.arn

  # deployment_controller is left out: the default, ECS, is the one Slipway rolls out with.
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnets
    security_groups  = var.security_groups
    assign_public_ip = false
  }

  lifecycle {
    # Slipway moves the service to each new revision with UpdateService; without this, every
    # plan would move it back to the revision above.
    ignore_changes = [task_definition]
  }
}

output "service_key" {
  description = "What `slipway adopt` and `slipway rollback` take."
  value       = "${var.cluster_name}/${aws_ecs_service.app.name}"
}

output "first_revision" {
  value = aws_ecs_task_definition.app.arn
}
