export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[]

export type Database = {
  public: {
    Tables: {
      video_jobs: {
        Row: {
          attempts: number
          cancel_requested: boolean
          created_at: string
          current_stage: string | null
          error_code: string | null
          error_message: string | null
          finished_at: string | null
          id: number
          max_attempts: number
          owner_id: string
          priority: number
          processing_stages: Json
          progress: number
          retries: number
          run_after: string
          started_at: string | null
          status: Database["public"]["Enums"]["processing_status"]
          updated_at: string
          video_id: string
        }
        Insert: {
          attempts?: number
          cancel_requested?: boolean
          created_at?: string
          current_stage?: string | null
          error_code?: string | null
          error_message?: string | null
          finished_at?: string | null
          id?: never
          max_attempts?: number
          owner_id: string
          priority?: number
          processing_stages?: Json
          progress?: number
          retries?: number
          run_after?: string
          started_at?: string | null
          status?: Database["public"]["Enums"]["processing_status"]
          updated_at?: string
          video_id: string
        }
        Update: {
          attempts?: number
          cancel_requested?: boolean
          created_at?: string
          current_stage?: string | null
          error_code?: string | null
          error_message?: string | null
          finished_at?: string | null
          id?: never
          max_attempts?: number
          owner_id?: string
          priority?: number
          processing_stages?: Json
          progress?: number
          retries?: number
          run_after?: string
          started_at?: string | null
          status?: Database["public"]["Enums"]["processing_status"]
          updated_at?: string
          video_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "video_jobs_video_id_fkey"
            columns: ["video_id"]
            isOneToOne: true
            referencedRelation: "videos"
            referencedColumns: ["id"]
          },
        ]
      }
      video_metadata: {
        Row: {
          created_at: string
          description: string | null
          extracted_video_duration_seconds: number | null
          extracted_video_format: string | null
          extracted_video_resolution: string | null
          id: number
          job_id: number
          language: string | null
          language_probability: number | null
          owner_id: string
          show_notes_text: string | null
          subtitle_files_urls: Json
          tags: string[]
          thumbnail_file_url: string | null
          title: string | null
          transcript_file_url: string | null
          transcript_text: string | null
          updated_at: string
        }
        Insert: {
          created_at?: string
          description?: string | null
          extracted_video_duration_seconds?: number | null
          extracted_video_format?: string | null
          extracted_video_resolution?: string | null
          id?: never
          job_id: number
          language?: string | null
          language_probability?: number | null
          owner_id: string
          show_notes_text?: string | null
          subtitle_files_urls?: Json
          tags?: string[]
          thumbnail_file_url?: string | null
          title?: string | null
          transcript_file_url?: string | null
          transcript_text?: string | null
          updated_at?: string
        }
        Update: {
          created_at?: string
          description?: string | null
          extracted_video_duration_seconds?: number | null
          extracted_video_format?: string | null
          extracted_video_resolution?: string | null
          id?: never
          job_id?: number
          language?: string | null
          language_probability?: number | null
          owner_id?: string
          show_notes_text?: string | null
          subtitle_files_urls?: Json
          tags?: string[]
          thumbnail_file_url?: string | null
          title?: string | null
          transcript_file_url?: string | null
          transcript_text?: string | null
          updated_at?: string
        }
        Relationships: [
          {
            foreignKeyName: "video_metadata_job_id_fkey"
            columns: ["job_id"]
            isOneToOne: true
            referencedRelation: "video_jobs"
            referencedColumns: ["id"]
          },
        ]
      }
      videos: {
        Row: {
          content_type: string | null
          created_at: string
          id: string
          original_filename: string | null
          size_bytes: number | null
          storage_path: string
          updated_at: string
          uploader_user_id: string
        }
        Insert: {
          content_type?: string | null
          created_at?: string
          id?: string
          original_filename?: string | null
          size_bytes?: number | null
          storage_path: string
          updated_at?: string
          uploader_user_id?: string
        }
        Update: {
          content_type?: string | null
          created_at?: string
          id?: string
          original_filename?: string | null
          size_bytes?: number | null
          storage_path?: string
          updated_at?: string
          uploader_user_id?: string
        }
        Relationships: []
      }
    }
    Views: {
      [_ in never]: never
    }
    Functions: {
      cancel_video_job: {
        Args: { job_id: number }
        Returns: {
          attempts: number
          cancel_requested: boolean
          created_at: string
          current_stage: string | null
          error_code: string | null
          error_message: string | null
          finished_at: string | null
          id: number
          max_attempts: number
          owner_id: string
          priority: number
          processing_stages: Json
          progress: number
          retries: number
          run_after: string
          started_at: string | null
          status: Database["public"]["Enums"]["processing_status"]
          updated_at: string
          video_id: string
        }
        SetofOptions: {
          from: "*"
          to: "video_jobs"
          isOneToOne: true
          isSetofReturn: false
        }
      }
      retry_video_job: {
        Args: { job_id: number }
        Returns: {
          attempts: number
          cancel_requested: boolean
          created_at: string
          current_stage: string | null
          error_code: string | null
          error_message: string | null
          finished_at: string | null
          id: number
          max_attempts: number
          owner_id: string
          priority: number
          processing_stages: Json
          progress: number
          retries: number
          run_after: string
          started_at: string | null
          status: Database["public"]["Enums"]["processing_status"]
          updated_at: string
          video_id: string
        }
        SetofOptions: {
          from: "*"
          to: "video_jobs"
          isOneToOne: true
          isSetofReturn: false
        }
      }
    }
    Enums: {
      processing_status:
        | "PENDING"
        | "PROCESSING"
        | "COMPLETED"
        | "FAILED"
        | "CANCELLED"
    }
    CompositeTypes: {
      [_ in never]: never
    }
  }
}

type DatabaseWithoutInternals = Omit<Database, "__InternalSupabase">

type DefaultSchema = DatabaseWithoutInternals[Extract<keyof Database, "public">]

export type Tables<
  DefaultSchemaTableNameOrOptions extends
    | keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends (DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
        DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])
    : never) = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
      DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])[TableName] extends {
      Row: infer R
    }
    ? R
    : never
  : DefaultSchemaTableNameOrOptions extends keyof (DefaultSchema["Tables"] &
        DefaultSchema["Views"])
    ? (DefaultSchema["Tables"] &
        DefaultSchema["Views"])[DefaultSchemaTableNameOrOptions] extends {
        Row: infer R
      }
      ? R
      : never
    : never

export type TablesInsert<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends (DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never) = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Insert: infer I
    }
    ? I
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Insert: infer I
      }
      ? I
      : never
    : never

export type TablesUpdate<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends (DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never) = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Update: infer U
    }
    ? U
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Update: infer U
      }
      ? U
      : never
    : never

export type Enums<
  DefaultSchemaEnumNameOrOptions extends
    | keyof DefaultSchema["Enums"]
    | { schema: keyof DatabaseWithoutInternals },
  EnumName extends (DefaultSchemaEnumNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"]
    : never) = never,
> = DefaultSchemaEnumNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"][EnumName]
  : DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][DefaultSchemaEnumNameOrOptions]
    : never

export type CompositeTypes<
  PublicCompositeTypeNameOrOptions extends
    | keyof DefaultSchema["CompositeTypes"]
    | { schema: keyof DatabaseWithoutInternals },
  CompositeTypeName extends (PublicCompositeTypeNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"]
    : never) = never,
> = PublicCompositeTypeNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"][CompositeTypeName]
  : PublicCompositeTypeNameOrOptions extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][PublicCompositeTypeNameOrOptions]
    : never

export const Constants = {
  public: {
    Enums: {
      processing_status: [
        "PENDING",
        "PROCESSING",
        "COMPLETED",
        "FAILED",
        "CANCELLED",
      ],
    },
  },
} as const

